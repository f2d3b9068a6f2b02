fn main() {
    let p = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let title = text
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .map(str::to_string);
    let e = postmill::provider::local::extractor::extract(title.as_deref(), &text, &[]);
    println!("{}", serde_json::to_string_pretty(&e).unwrap());
}
