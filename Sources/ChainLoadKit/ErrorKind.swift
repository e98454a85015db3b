import RESP

/// Error kinds as counted in reports: an error reply's first word, lowercased (`tryagain`,
/// `err`, …), or the load generator's own (`connection`, `timeout`, `protocol`, `wait_short`,
/// `unavailable`).
enum ErrorKind {
    static func of(_ v: RESPValue) -> String? {
        guard case let .error(e) = v else { return nil }
        let word = e.split(separator: " ").first.map(String.init) ?? "ERR"
        return word.lowercased()
    }
}
