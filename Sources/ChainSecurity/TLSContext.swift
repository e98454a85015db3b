internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// A TLS setup step or handshake failed (OpenSSL's reason).
public struct TLSError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "TLS: \(message)" }
}

/// Certificates and keys for TLS connections (OpenSSL's SSL_CTX, TLS 1.2 or newer). A server
/// context presents `certificate`/`key` and, with `requireClientCertificate`, accepts only clients
/// whose certificate `ca` signed (mutual TLS); a client context trusts `ca` (or the system's
/// store) and may present its own certificate. Immutable once made; shared by every connection
/// that uses it, on the event loops (through libevent's OpenSSL bufferevents) and in the blocking
/// clients (`TLSStream`).
public final class TLSContext: @unchecked Sendable {
    public enum Role: Sendable { case server, client }

    let ctx: OpaquePointer
    public let role: Role

    public init(role: Role, certificateFile: String?, keyFile: String?, caFile: String?,
                requireClientCertificate: Bool = false) throws(TLSError) {
        guard let ctx = SSL_CTX_new(role == .server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError("SSL_CTX_new: \(Self.lastError())")
        }
        self.ctx = ctx
        self.role = role
        _ = chainstore_tls_set_min_tls12(ctx)
        if let certificateFile {
            guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1 else {
                throw TLSError("certificate \(certificateFile): \(Self.lastError())")
            }
            guard let keyFile, SSL_CTX_use_PrivateKey_file(ctx, keyFile, SSL_FILETYPE_PEM) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
                throw TLSError("key \(keyFile ?? "(none)") for \(certificateFile): \(Self.lastError())")
            }
        } else if role == .server {
            throw TLSError("a server needs a certificate and a key")
        }
        if let caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else { throw TLSError("CA \(caFile): \(Self.lastError())") }
        }
        switch role {
        case .client:
            // Clients always check the server (against `ca`, or the system's store).
            if caFile == nil { _ = SSL_CTX_set_default_verify_paths(ctx) }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        case .server where requireClientCertificate:
            guard caFile != nil else { throw TLSError("requiring client certificates needs a CA file") }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        case .server:
            break
        }
    }

    deinit { SSL_CTX_free(ctx) }

    /// A new SSL object (OpenSSL's `SSL *`) for one connection; the caller owns it (libevent's
    /// bufferevent frees it on close). A client connection checks that the server's certificate
    /// names `serverName` — an IP address against the certificate's IP entries, a host name
    /// against its DNS entries — and sends it as SNI when it is a host name.
    package func newSSL(serverName: String? = nil) -> OpaquePointer? {
        guard let ssl = SSL_new(ctx) else { return nil }
        if let serverName, role == .client {
            if Self.isIPAddress(serverName) {
                _ = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
            } else {
                _ = chainstore_tls_set_sni(ssl, serverName)
                _ = SSL_set1_host(ssl, serverName)
            }
        }
        return ssl
    }

    private static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    /// OpenSSL's most recent errors, as text (and the queue cleared).
    package static func lastError() -> String {
        var text = ""
        while case let e = ERR_get_error(), e != 0 { text += (text.isEmpty ? "" : "; ") + errorText(e) }
        return text.isEmpty ? "unknown error" : text
    }

    /// OpenSSL's text for one error code.
    package static func errorText(_ code: UInt) -> String {
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

extension TLSContext {
    /// The server context the `--tls-cert-file`, `--tls-key-file`, `--tls-ca-file` and
    /// `--tls-client-auth` flags describe (every server command takes them): nil without a
    /// certificate; a key without a certificate, a certificate without a key, or client auth
    /// without a CA is an error that names the flags. `caAlone` allows a CA without a certificate
    /// (it serves another purpose, such as checking the master).
    public static func fromServerFlags(certificateFile: String?, keyFile: String?, caFile: String?, clientAuth: Bool,
                                       caAlone: Bool = false) throws(TLSError) -> TLSContext? {
        guard let certificateFile else {
            if keyFile != nil || (caFile != nil && !caAlone) || clientAuth { throw TLSError("the --tls-* flags need --tls-cert-file") }
            return nil
        }
        guard let keyFile else { throw TLSError("--tls-cert-file needs --tls-key-file") }
        return try TLSContext(role: .server, certificateFile: certificateFile, keyFile: keyFile, caFile: caFile,
                              requireClientCertificate: clientAuth)
    }
}
