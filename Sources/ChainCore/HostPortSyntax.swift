/// `HOST:PORT` as every address flag and `$CHAIN_MASTER` take it: an IPv4 literal
/// (`10.0.0.5:6380`), an IPv6 literal in brackets (`[fd00::5]:6380`), or a DNS name
/// (`db-1.example.net:6380`). An empty host (`:6380`) means every interface, for listen addresses.
/// Syntax only: names are resolved where a socket is made, never on an event loop.
public enum HostPortSyntax {
    public enum Host: Sendable, Equatable {
        case ipv4(String)
        case ipv6(String)
        case name(String)
        case any

        /// The host as a socket call takes it: no brackets; `any` is empty.
        public var text: String {
            switch self {
            case let .ipv4(s), let .ipv6(s), let .name(s): return s
            case .any: return ""
            }
        }
    }

    /// Nil when the text is not `HOST:PORT` (an IPv6 literal without brackets is refused: its
    /// last group could not be told from the port).
    public static func parse(_ text: String) -> (host: Host, port: UInt16)? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        let host = text[..<colon]
        if host.isEmpty { return (.any, port) }
        if host.first == "[" {
            guard host.last == "]", host.count > 2 else { return nil }
            let inner = String(host.dropFirst().dropLast())
            return isIPv6(inner) ? (.ipv6(inner), port) : nil
        }
        if host.contains(":") { return nil }
        if isIPv4(host) { return (.ipv4(String(host)), port) }
        // Dotted numbers that are no IPv4 address (1.2.3.999) are a typo, not a name.
        if host.allSatisfy({ $0.isNumber || $0 == "." }) { return nil }
        return isHostName(host) ? (.name(String(host)), port) : nil
    }

    /// `HOST:PORT`, with brackets around an IPv6 host.
    public static func format(host: String, port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public static func isIPv4(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && Int(p)! <= 255
        }
    }

    /// The shape of an IPv6 literal (hex groups, `::`, an IPv4 tail, a `%zone`); the socket call
    /// that uses it has the last word.
    public static func isIPv6(_ s: String) -> Bool {
        let address = s.split(separator: "%", maxSplits: 1).first.map(String.init) ?? ""
        guard address.contains(":"), address.count <= 45 else { return false }
        // At most one "::" (a run of three colons is no IPv6 either).
        let chars = Array(address)
        let doubles = (1..<max(1, chars.count)).filter { chars[$0] == ":" && chars[$0 - 1] == ":" }.count
        if doubles > 1 || address.contains(":::") { return false }
        let groups = address.split(separator: ":", omittingEmptySubsequences: true)
        guard groups.count <= 8 else { return false }
        for (i, g) in groups.enumerated() {
            if i == groups.count - 1 && g.contains(".") { if !isIPv4(g) { return false } else { continue } }
            guard g.count <= 4, g.allSatisfy(\.isHexDigit) else { return false }
        }
        return true
    }

    /// RFC 1123 host names: dot-separated labels of letters, digits and hyphens (underscores
    /// too, as some internal DNS uses), each 1–63 long and not starting or ending with a hyphen.
    public static func isHostName(_ s: Substring) -> Bool {
        guard !s.isEmpty, s.count <= 253 else { return false }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { l in
            !l.isEmpty && l.count <= 63 && l.first != "-" && l.last != "-"
                && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        } || (s.last == "." && isHostName(s.dropLast()))
    }
}
