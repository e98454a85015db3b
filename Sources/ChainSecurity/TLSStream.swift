internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// TLS over an already connected blocking socket, for the blocking clients (tools, the smart
/// client, a node's link to the master). The socket's own send and receive timeouts bound every
/// call. Not thread-safe; the caller still owns and closes the socket.
public final class TLSStream {
    public enum ReadResult: Equatable {
        case bytes(Int)
        case closed
        case timeout
        case failed(String)
    }

    private var ssl: OpaquePointer?

    /// Runs the client handshake; the server's certificate must chain to the context's CA and
    /// name `serverName` (see `TLSContext.newSSL`).
    public init(fd: Int32, context: TLSContext, serverName: String?) throws(TLSError) {
        guard context.role == .client else { throw TLSError("a TLS stream needs a client context") }
        Self.ignoreSIGPIPE()
        guard let ssl = context.newSSL(serverName: serverName) else { throw TLSError("SSL_new: \(TLSContext.lastError())") }
        self.ssl = ssl
        chainstore_tls_allow_unexpected_eof(ssl)
        guard SSL_set_fd(ssl, fd) == 1 else {
            close()
            throw TLSError("SSL_set_fd: \(TLSContext.lastError())")
        }
        let rc = SSL_connect(ssl)
        if rc != 1 {
            let reason = Self.failure(ssl, rc)
            close()
            throw TLSError("handshake: \(reason)")
        }
    }

    deinit { close() }

    /// Sends the TLS close notification (best effort) and frees the session.
    public func close() {
        guard let s = ssl else { return }
        ssl = nil
        _ = SSL_shutdown(s)
        SSL_free(s)
    }

    /// Writes all of `bytes`, or says why not (`nil` when done).
    public func write(_ bytes: UnsafeRawBufferPointer) -> ReadResult? {
        guard let ssl else { return .closed }
        var off = 0
        while off < bytes.count {
            let n = SSL_write(ssl, bytes.baseAddress! + off, Int32(min(bytes.count - off, Int(Int32.max))))
            if n > 0 { off += Int(n); continue }
            return classify(n)
        }
        return nil
    }

    /// Reads what is available (at least one byte, waiting up to the socket's timeout).
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        guard let ssl else { return .closed }
        let n = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return n > 0 ? .bytes(Int(n)) : classify(n)
    }

    private func classify(_ rc: Int32) -> ReadResult {
        let e = errno
        guard let ssl else { return .closed }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .timeout
        case SSL_ERROR_SYSCALL:
            if e == EAGAIN || e == EWOULDBLOCK { return .timeout }
            if e == 0 || e == ECONNRESET || e == EPIPE { return .closed }
            return .failed(String(cString: strerror(e)))
        default:
            return .failed(TLSContext.lastError())
        }
    }

    /// Why a handshake failed: the certificate check's verdict when that was the cause.
    private static func failure(_ ssl: OpaquePointer, _ rc: Int32) -> String {
        let e = errno
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK { return "certificate verify failed: \(String(cString: X509_verify_cert_error_string(verify)))" }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_SYSCALL:
            if e == EAGAIN || e == EWOULDBLOCK { return "timed out" }
            return e == 0 ? "the server closed the connection" : String(cString: strerror(e))
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return "timed out"
        default:
            return TLSContext.lastError()
        }
    }

    /// OpenSSL writes with write(2), so a server that hung up would raise SIGPIPE and kill the
    /// process; a process using TLS streams ignores it instead (unless it installed a handler).
    private static func ignoreSIGPIPE() {
        var old = sigaction()
        guard sigaction(SIGPIPE, nil, &old) == 0, old.__sigaction_handler.sa_handler == nil else { return }
        signal(SIGPIPE, SIG_IGN)
    }
}
