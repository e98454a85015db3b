import ChainClient
import ChainSecurity
import EventLoop

/// How the load generator's connections prove who they are: `AUTH` credentials, and TLS (a
/// client context trusting the servers' CA, with a client certificate for mutual TLS).
public struct LoadSecurity: Sendable {
    public var credentials: Credentials?
    public var tls: TLSContext?

    public init(credentials: Credentials? = nil, tls: TLSContext? = nil) {
        self.credentials = credentials
        self.tls = tls
    }
}
