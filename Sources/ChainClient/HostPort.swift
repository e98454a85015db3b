import ChainCore

/// `HOST:PORT` as the tools and clients take it: an IPv4 address, `[IPv6]` or a DNS name
/// (`HostPortSyntax`); an empty host and `localhost` are 127.0.0.1. Names are resolved when a connection is made.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// Without brackets.
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        guard let (h, port) = HostPortSyntax.parse(text) else { return nil }
        host = h == .any || h == .name("localhost") ? "127.0.0.1" : h.text
        self.port = port
    }

    public var description: String { HostPortSyntax.format(host: host, port: port) }
}
