import ArgumentParser
import ChainSecurity
import Foundation

/// The TLS flags of the server commands (chainserver's client port, chainmaster's API).
public struct ServerTLSFlags: ParsableArguments {
    @Option(name: .customLong("tls-cert-file"), help: "Serve TLS with this certificate (PEM, with its chain).")
    public var certFile: String?

    @Option(name: .customLong("tls-key-file"), help: "The private key of --tls-cert-file (PEM).")
    public var keyFile: String?

    @Option(name: .customLong("tls-ca-file"), help: "CA certificates (PEM) to trust: for client certificates with --tls-client-auth (and, on a node, for the other nodes and the master).")
    public var caFile: String?

    @Flag(name: .customLong("tls-client-auth"), help: "Accept only clients presenting a certificate --tls-ca-file signed (mutual TLS).")
    public var clientAuth = false

    public init() {}

    /// The server context the flags describe (nil without a certificate); `caAlone` allows a CA
    /// without a certificate. Errors name the flags.
    public func serverContext(caAlone: Bool = false) throws -> TLSContext? {
        do {
            return try TLSContext.fromServerFlags(certificateFile: certFile, keyFile: keyFile, caFile: caFile, clientAuth: clientAuth, caAlone: caAlone)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// A client context from the same files (a node dialling other nodes or the master).
    public func clientContext(caFile ca: String? = nil) throws -> TLSContext {
        do { return try TLSContext(role: .client, certificateFile: certFile, keyFile: keyFile, caFile: ca ?? caFile) } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// The TLS flags of the client tools (chainctl, chainload): TLS to everything they talk to.
public struct ClientTLSFlags: ParsableArguments {
    @Option(name: .customLong("tls-ca-file"), help: "Speak TLS, checking the servers' certificates against this CA (PEM).")
    public var caFile: String?

    @Option(name: .customLong("tls-cert-file"), help: "A client certificate to present (PEM), for servers with --tls-client-auth; with --tls-key-file.")
    public var certFile: String?

    @Option(name: .customLong("tls-key-file"), help: "The private key of --tls-cert-file (PEM).")
    public var keyFile: String?

    public init() {}

    /// The client context (nil for plaintext); `environmentCA` names a variable that may give
    /// the CA file instead of the flag.
    public func context(environmentCA: String? = nil) throws -> TLSContext? {
        if (certFile == nil) != (keyFile == nil) { throw ValidationError("--tls-cert-file and --tls-key-file go together") }
        guard let ca = caFile ?? environmentCA.flatMap({ ProcessInfo.processInfo.environment[$0] }) else {
            if certFile != nil { throw ValidationError("--tls-cert-file needs --tls-ca-file") }
            return nil
        }
        do { return try TLSContext(role: .client, certificateFile: certFile, keyFile: keyFile, caFile: ca) } catch {
            throw ValidationError("\(error)")
        }
    }
}
