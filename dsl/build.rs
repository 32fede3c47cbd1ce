//! Generates the LALRPOP parser for the rule grammar.
fn main() {
    lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        .process()
        .expect("LALRPOP grammar failed to generate");
}
