internal import CLibevent
import ChainSecurity
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP request handed to a handler. The handler must call `respond` exactly once, either
/// before it returns or later on the loop thread (a long poll). If the client goes away first,
/// `isAbandoned` turns true and `respond` does nothing.
public final class HTTPRequest {
    public let method: String
    public let path: String
    public let query: [String: String]
    public let body: [UInt8]
    /// The `Authorization` header, if any.
    public let authorization: String?
    public private(set) var isAbandoned = false
    public private(set) var isAnswered = false
    private var request: OpaquePointer?
    /// Set while the connection's close callback holds a retained reference to this request.
    private var watchedConnection: OpaquePointer?

    init(_ req: OpaquePointer) {
        request = req
        switch evhttp_request_get_command(req) {
        case EVHTTP_REQ_GET: method = "GET"
        case EVHTTP_REQ_POST: method = "POST"
        case EVHTTP_REQ_PUT: method = "PUT"
        case EVHTTP_REQ_DELETE: method = "DELETE"
        case EVHTTP_REQ_HEAD: method = "HEAD"
        default: method = "OTHER"
        }
        var path = "/"
        var query: [String: String] = [:]
        if let uri = evhttp_request_get_evhttp_uri(req) {
            if let p = evhttp_uri_get_path(uri) { path = String(cString: p) }
            if let q = evhttp_uri_get_query(uri) {
                var headers = evkeyvalq()
                if evhttp_parse_query_str(q, &headers) == 0 {
                    var kv = chainstore_evkeyvalq_first(&headers)
                    while let e = kv {
                        query[String(cString: e.pointee.key)] = String(cString: e.pointee.value)
                        kv = chainstore_evkeyval_next(e)
                    }
                }
                evhttp_clear_headers(&headers)
            }
        }
        self.path = path
        self.query = query
        var body: [UInt8] = []
        if let input = evhttp_request_get_input_buffer(req) {
            let n = evbuffer_get_length(input)
            if n > 0, let p = evbuffer_pullup(input, -1) {
                body = Array(UnsafeBufferPointer(start: p, count: n))
            }
        }
        self.body = body
        authorization = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization").map { String(cString: $0) }
    }

    public func respond(status: Int32, contentType: String, body: [UInt8]) {
        guard let req = request else { return }
        request = nil
        isAnswered = true
        unwatch()
        let headers = evhttp_request_get_output_headers(req)
        evhttp_add_header(headers, "Content-Type", contentType)
        let buf = evbuffer_new()
        body.withUnsafeBytes { _ = evbuffer_add(buf, $0.baseAddress, $0.count) }
        evhttp_send_reply(req, status, Self.reason(status), buf)
        evbuffer_free(buf)
    }

    public func respond(status: Int32, contentType: String = "text/plain; charset=utf-8", text: String) {
        respond(status: status, contentType: contentType, body: Array(text.utf8))
    }

    /// Registers for the connection's close so a held request learns it was abandoned.
    func watch(_ conn: OpaquePointer) {
        watchedConnection = conn
        evhttp_connection_set_closecb(conn, { _, arg in
            let r = Unmanaged<HTTPRequest>.fromOpaque(arg!).takeRetainedValue()
            r.watchedConnection = nil
            r.isAbandoned = true
            r.request = nil
        }, Unmanaged.passRetained(self).toOpaque())
    }

    private func unwatch() {
        guard let conn = watchedConnection else { return }
        watchedConnection = nil
        evhttp_connection_set_closecb(conn, nil, nil)
        Unmanaged.passUnretained(self).release()
    }

    static func reason(_ status: Int32) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Payload Too Large"
        case 503: return "Service Unavailable"
        default: return status < 400 ? "OK" : "Error"
        }
    }
}

/// An HTTP/1.1 server on the loop (libevent's evhttp), HTTPS with `tls`. Every request goes to one
/// handler; routing by path is the caller's.
public final class HTTPServer {
    public let loop: EventLoop
    public private(set) var address: SocketAddress
    private var http: OpaquePointer?
    private let handler: (HTTPRequest) -> Void
    /// Connections speak TLS with this server context.
    private let tls: TLSContext?

    public init(loop: EventLoop, address: SocketAddress, maxBodyBytes: Int = 1 << 20, tls: TLSContext? = nil,
                handler: @escaping (HTTPRequest) -> Void) throws(EventLoopError) {
        loop.assertInLoop()
        self.loop = loop
        self.address = address
        self.handler = handler
        self.tls = tls
        guard let http = evhttp_new(loop.base) else { throw .call("evhttp_new", errno: errno) }
        self.http = http
        if tls != nil {
            // evhttp asks for each accepted connection's bufferevent; an SSL one makes it HTTPS.
            // (A NULL return makes evhttp drop that connection.)
            evhttp_set_bevcb(http, { base, arg in
                let s = Unmanaged<HTTPServer>.fromOpaque(arg!).takeUnretainedValue()
                guard let ssl = s.tls?.newSSL() else { return nil }
                return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
            }, Unmanaged.passUnretained(self).toOpaque())
        }
        evhttp_set_max_body_size(http, maxBodyBytes)
        evhttp_set_allowed_methods(http, UInt16(EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_POST.rawValue | EVHTTP_REQ_PUT.rawValue | EVHTTP_REQ_DELETE.rawValue | EVHTTP_REQ_HEAD.rawValue))
        let me = Unmanaged.passUnretained(self).toOpaque()
        evhttp_set_gencb(http, { req, arg in
            let s = Unmanaged<HTTPServer>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(s) { s.dispatch(req!) }
        }, me)
        // A name is resolved here, once, at start-up (before the loop serves anything).
        let bindTo: SocketAddress
        do { bindTo = try address.resolve()[0] } catch {
            evhttp_free(http)
            self.http = nil
            throw error
        }
        guard let bound = evhttp_bind_socket_with_handle(http, bindTo.host, bindTo.port) else {
            let e = errno
            evhttp_free(http)
            self.http = nil
            throw .call("HTTP listen on \(address)", errno: e)
        }
        if let b = SocketAddress.local(of: evhttp_bound_socket_get_fd(bound)) { self.address = b }
        loop.retain(self)
    }

    public func close() {
        guard let h = http else { return }
        evhttp_free(h)
        http = nil
        loop.release(self)
    }

    private func dispatch(_ req: OpaquePointer) {
        let request = HTTPRequest(req)
        handler(request)
        // A request held for later (long poll) must learn if its client goes away, because
        // libevent then frees the underlying request.
        if !request.isAnswered, let conn = evhttp_request_get_connection(req) {
            request.watch(conn)
        }
    }
}
