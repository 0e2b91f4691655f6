//! Loads each prometheus.yml given and prints the effective configuration or the error.

fn main() {
    for f in std::env::args().skip(1) {
        match hearth_config::Config::load_file(std::path::Path::new(&f)) {
            Ok(c) => println!("{}", c.to_yaml()),
            Err(e) => println!("{e}"),
        }
    }
}
