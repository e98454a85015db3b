internal import CLibevent

/// Certificates and keys for TLS connections (OpenSSL's SSL_CTX, TLS 1.2 or newer). A server
/// context presents `certificate`/`key` and, with `requireClientCertificate`, accepts only clients
/// whose certificate `ca` signed (mutual TLS); a client context trusts `ca` and may present its own
/// certificate. Immutable once made; shared by every connection of a loop.
public final class TLSContext: @unchecked Sendable {
    public enum Role: Sendable { case server, client }

    let ctx: OpaquePointer
    public let role: Role

    public init(role: Role, certificateFile: String?, keyFile: String?, caFile: String?,
                requireClientCertificate: Bool = false) throws(EventLoopError) {
        guard let ctx = SSL_CTX_new(role == .server ? TLS_server_method() : TLS_client_method()) else {
            throw .tls("SSL_CTX_new: \(Self.lastError())")
        }
        self.ctx = ctx
        self.role = role
        _ = chainstore_ssl_set_min_tls12(ctx)
        if let certificateFile {
            guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1 else {
                throw .tls("certificate \(certificateFile): \(Self.lastError())")
            }
            guard let keyFile, SSL_CTX_use_PrivateKey_file(ctx, keyFile, SSL_FILETYPE_PEM) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
                throw .tls("key \(keyFile ?? "(none)") for \(certificateFile): \(Self.lastError())")
            }
        } else if role == .server {
            throw .tls("a server needs a certificate and a key")
        }
        if let caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else { throw .tls("CA \(caFile): \(Self.lastError())") }
        }
        switch role {
        case .client:
            // Clients always check the server (against `ca`, or the system's store).
            if caFile == nil { _ = SSL_CTX_set_default_verify_paths(ctx) }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        case .server where requireClientCertificate:
            guard caFile != nil else { throw .tls("requiring client certificates needs a CA file") }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        case .server:
            break
        }
    }

    deinit { SSL_CTX_free(ctx) }

    func newSSL(serverName: String? = nil) -> OpaquePointer? {
        guard let ssl = SSL_new(ctx) else { return nil }
        if let serverName, role == .client { _ = chainstore_ssl_set_hostname(ssl, serverName) }
        return ssl
    }

    /// OpenSSL's most recent error, as text (and the queue cleared).
    static func lastError() -> String {
        var text = ""
        while case let e = ERR_get_error(), e != 0 { text += (text.isEmpty ? "" : "; ") + errorText(e) }
        return text.isEmpty ? "unknown error" : text
    }

    /// OpenSSL's text for one error code.
    static func errorText(_ code: UInt) -> String {
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
