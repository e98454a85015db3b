import ChainClient
import DequeModule
import EventLoop
import RESP

/// One event-driven RESP connection of the load generator. Commands are appended to an outbox
/// and sent together by `flush()` (one write for a whole pipeline); replies come back in order,
/// so a FIFO of `Waiter`s says whom each reply belongs to. Loop-thread only.
///
/// When the connection ends (the peer closed it, a socket error, `fail`), every waiter still
/// queued is told with the error kind, and the next command opens a new connection.
final class RESPPipe {
    /// Who waits for a reply: the owner's slot number and what the reply answers.
    struct Waiter {
        var slot: Int32
        var step: Step
    }

    enum Step: UInt8 {
        case get, set, wait, rmwRead, rmwWrite, rmwWait
    }

    let loop: EventLoop
    let address: SocketAddress
    /// Called for each reply, in order, and with an error reply for each waiter of a lost
    /// connection (`-connection …`).
    private let deliver: (Waiter, RESPValue) -> Void
    private let keepValues: Bool
    private let security: LoadSecurity
    /// The reply to this connection's AUTH has not arrived yet.
    private var authPending = false
    private var connection: Connection?
    private var parser: RESPReplyParser
    private var waiters = Deque<Waiter>()
    private var outbox: [UInt8] = []
    /// When a reply last arrived, or the first waiter was queued (monotonic ns): a pipe with
    /// waiters and no progress for the request timeout has timed out.
    private(set) var lastProgressAt: UInt64 = 0

    /// `keepValues`: bulk replies carry their bytes (only `--check` and read-modify-writes need
    /// them; otherwise they come back empty and are not copied).
    init(loop: EventLoop, address: SocketAddress, keepValues: Bool, security: LoadSecurity, deliver: @escaping (Waiter, RESPValue) -> Void) {
        self.loop = loop
        self.address = address
        self.security = security
        self.keepValues = keepValues
        self.deliver = deliver
        parser = RESPReplyParser(discardBulkBodies: !keepValues)
        outbox.reserveCapacity(4096)
    }

    var pending: Int { waiters.count }

    /// Queues one command; it goes out with the next `flush()`. (Fixed arities rather than a
    /// variadic list: this runs for every operation, and an array of arguments costs allocations.)
    func send(_ a: [UInt8], _ b: [UInt8], waiter: Waiter, now: UInt64) {
        queue(waiter, now)
        Self.appendHeader(UInt8(ascii: "*"), 2, &outbox)
        Self.appendBulk(a, &outbox); Self.appendBulk(b, &outbox)
    }

    func send(_ a: [UInt8], _ b: [UInt8], _ c: [UInt8], waiter: Waiter, now: UInt64) {
        queue(waiter, now)
        Self.appendHeader(UInt8(ascii: "*"), 3, &outbox)
        Self.appendBulk(a, &outbox); Self.appendBulk(b, &outbox); Self.appendBulk(c, &outbox)
    }

    /// `verb key:NNN…` (and `value`): the key written from its number, without an array of its own.
    func send(_ verb: [UInt8], key: Int, value: ArraySlice<UInt8>?, waiter: Waiter, now: UInt64) {
        queue(waiter, now)
        Self.appendHeader(UInt8(ascii: "*"), value == nil ? 2 : 3, &outbox)
        Self.appendBulk(verb, &outbox)
        Self.appendHeader(UInt8(ascii: "$"), KeyChooser.nameLength(key), &outbox)
        KeyChooser.appendName(key, to: &outbox)
        outbox.append(13); outbox.append(10)
        if let value { Self.appendBulk(value, &outbox) }
    }

    func send(_ args: [[UInt8]], waiter: Waiter, now: UInt64) {
        queue(waiter, now)
        Self.appendHeader(UInt8(ascii: "*"), args.count, &outbox)
        for a in args { Self.appendBulk(a, &outbox) }
    }

    private func queue(_ waiter: Waiter, _ now: UInt64) {
        if waiters.isEmpty { lastProgressAt = now }
        waiters.append(waiter)
    }

    /// Hands the queued commands to the connection (opening it first when needed).
    func flush() {
        guard !outbox.isEmpty else { return }
        if connection == nil {
            do { connection = try open() } catch {
                outbox.removeAll(keepingCapacity: true)
                failAll("connection")
                return
            }
        }
        connection?.write(outbox)
        outbox.removeAll(keepingCapacity: true)
    }

    /// Ends the connection; every waiter gets an error of `kind` (e.g. `timeout`).
    func fail(_ kind: String) {
        let c = connection
        connection = nil
        c?.onClose = nil
        c?.close()
        outbox.removeAll(keepingCapacity: true)
        failAll(kind)
    }

    func close() {
        let c = connection
        connection = nil
        c?.onClose = nil
        c?.close()
    }

    private func open() throws(EventLoopError) -> Connection {
        let c = try Connection.connect(loop: loop, to: address, tls: security.tls)
        parser = RESPReplyParser(discardBulkBodies: !keepValues)
        if let credentials = security.credentials {
            // Authenticate first; its reply is checked before any other.
            c.write(RESPWriter.command(credentials.authCommand))
            authPending = true
        }
        c.onRead = { [unowned self] c in readReplies(c) }
        c.onClose = { [unowned self] c, end in
            guard connection === c else { return }
            connection = nil
            switch end {
            case .timeout: failAll("timeout")
            default: failAll("connection")
            }
        }
        return c
    }

    private func readReplies(_ c: Connection) {
        c.consumeInput { parser.append(contentsOf: $0) }
        while connection === c {
            let reply: RESPValue?
            do { reply = try parser.next() } catch {
                fail("protocol")
                return
            }
            if authPending, let reply {
                authPending = false
                if case .error = reply { return fail("auth") }
                continue
            }
            guard let reply, let w = waiters.popFirst() else {
                if reply != nil { fail("protocol") }  // a reply nobody asked for
                return
            }
            if !waiters.isEmpty { lastProgressAt = MonotonicClock.now() }
            deliver(w, reply)
        }
    }

    private func failAll(_ kind: String) {
        let lost = waiters
        waiters.removeAll()
        for w in lost { deliver(w, .error("\(kind) lost")) }
    }

    @inline(__always) private static func appendBulk<C: Collection>(_ a: C, _ out: inout [UInt8]) where C.Element == UInt8 {
        appendHeader(UInt8(ascii: "$"), a.count, &out)
        out.append(contentsOf: a)
        out.append(13); out.append(10)
    }

    private static func appendHeader(_ type: UInt8, _ n: Int, _ out: inout [UInt8]) {
        out.append(type)
        if n < 10 { out.append(UInt8(48 + n)) }
        else if n < 100 { out.append(UInt8(48 + n / 10)); out.append(UInt8(48 + n % 10)) }
        else { out.append(contentsOf: String(n).utf8) }
        out.append(13); out.append(10)
    }
}
