import ArgumentParser
import ChainCLI
import ChainClient
import ChainCore
import ChainSecurity
import Foundation

/// `--master` and the master's HTTP API as chainctl uses it: every failure becomes one clear line.
struct MasterOption: ParsableArguments {
    @Option(name: .long, help: "Configuration master (HOST:PORT, or several comma-separated: the leader is followed); default $CHAIN_MASTER or 127.0.0.1:7000.")
    var master: String?

    @Option(name: .customLong("token-file"), help: "File holding the master's API token; default $CHAIN_MASTER_TOKEN_FILE.")
    var tokenFile: String?

    @Option(help: "User the data commands authenticate as on the nodes (default: the default user, when a password is given).")
    var user: String?

    @Option(name: .customLong("password-file"), help: "File holding the password for the nodes (get/set/del/scan); default $CHAIN_PASSWORD_FILE.")
    var passwordFile: String?

    @OptionGroup(title: "TLS (to the master and the nodes; the CA may come from $CHAIN_TLS_CA_FILE)")
    var tlsFlags: ClientTLSFlags

    var address: MasterEndpoints {
        get throws {
            let text = master ?? ProcessInfo.processInfo.environment["CHAIN_MASTER"] ?? "127.0.0.1:7000"
            guard let a = MasterEndpoints(text) else { throw ValidationError("invalid master address '\(text)' (expected HOST:PORT[,HOST:PORT…]; HOST is an IPv4 address, [IPv6] or a DNS name)") }
            return a
        }
    }

    /// A secret from a file named by a flag or, failing that, an environment variable.
    private func secret(_ flag: String, _ path: String?, env: String) throws -> String? {
        guard let path = path ?? ProcessInfo.processInfo.environment[env] else { return nil }
        guard let s = SecretFile.read(path) else { throw CtlError("\(flag) \(path) is not readable or is empty") }
        return s
    }

    var token: String? { get throws { try secret("--token-file", tokenFile, env: "CHAIN_MASTER_TOKEN_FILE") } }

    var credentials: Credentials? {
        get throws {
            guard let p = try secret("--password-file", passwordFile, env: "CHAIN_PASSWORD_FILE") else {
                if user != nil { throw CtlError("--user needs --password-file") }
                return nil
            }
            return Credentials(user: user, password: p)
        }
    }

    /// The client TLS context from --tls-ca-file (or $CHAIN_TLS_CA_FILE) and the client
    /// certificate flags; nil for plaintext.
    var tls: TLSContext? { get throws { try tlsFlags.context(environmentCA: "CHAIN_TLS_CA_FILE") } }

    /// One request to the master; a non-2xx answer becomes its one-line reason.
    func call(_ method: String, _ path: String, body: [UInt8] = []) throws -> HTTPClient.Response {
        let a = try address
        let r: HTTPClient.Response
        let (t, tls) = (try token, try tls)
        do { r = try a.request(method: method, path: path, body: body, timeoutMs: 5000, token: t, tls: tls) } catch {
            throw CtlError("cannot reach the master at \(a): \(error)", kind: .masterUnreachable)
        }
        guard (200..<300).contains(r.status) else {
            let text = r.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if r.status == 401 { throw CtlError("the master at \(a) refused the request: \(text)") }
            throw CtlError(r.status == 409 || r.status == 400 ? text : "master at \(a) answered \(r.status): \(text)")
        }
        return r
    }

    func decode<T: Decodable>(_ type: T.Type, _ r: HTTPClient.Response) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(r.body)) } catch {
            throw CtlError("the master sent an answer this chainctl does not understand: \(error)")
        }
    }

    func status() throws -> MasterAPI.Status {
        try decode(MasterAPI.Status.self, try call("GET", "/v1/status"))
    }

    func configuration() throws -> Configuration {
        let r = try call("GET", "/v1/config?after=0&timeout_ms=0")
        guard r.status == 200 else { throw CtlError("the master has no configuration yet: not enough nodes have registered") }
        return try decode(Configuration.self, r)
    }

    /// POSTs a JSON body and decodes the answer.
    func post<B: Encodable, T: Decodable>(_ path: String, _ body: B, as type: T.Type) throws -> T {
        try decode(T.self, try call("POST", path, body: Array(try JSONEncoder().encode(body))))
    }

    func client() throws -> ClusterClient {
        let a = try address
        let (c, t, tls) = (try credentials, try token, try tls)
        do { return try ClusterClient(masters: a, credentials: c, token: t, tls: tls) } catch {
            if case let .master(m) = error { throw CtlError("cannot reach the master at \(a): \(m)") }
            throw CtlError("\(error)")
        }
    }
}
