internal import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot or repeating timer on the loop. Loop-thread only. A repeating timer runs until
/// `cancel()`; a one-shot timer releases itself after firing.
public final class Timer {
    public let loop: EventLoop
    private var event: OpaquePointer?
    private let repeating: Bool
    private let body: () -> Void

    @discardableResult
    public convenience init(loop: EventLoop, afterMs: Int, repeating: Bool = false, _ body: @escaping () -> Void) {
        self.init(loop: loop, afterMicros: afterMs * 1000, repeating: repeating, body)
    }

    @discardableResult
    public init(loop: EventLoop, afterMicros: Int, repeating: Bool = false, _ body: @escaping () -> Void) {
        loop.assertInLoop()
        self.loop = loop
        self.repeating = repeating
        self.body = body
        let me = Unmanaged.passUnretained(self).toOpaque()
        event = event_new(loop.base, -1, repeating ? Int16(EV_PERSIST) : 0, { _, _, arg in
            let t = Unmanaged<Timer>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(t) { t.fire() }
        }, me)
        let us = max(afterMicros, 0)
        var tv = timeval(tv_sec: us / 1_000_000, tv_usec: us % 1_000_000)
        event_add(event, &tv)
        loop.retain(self)
    }

    public var isActive: Bool { event != nil }

    public func cancel() {
        guard let e = event else { return }
        event_free(e)
        event = nil
        loop.release(self)
    }

    private func fire() {
        if !repeating { cancel() }
        body()
    }
}

/// Runs a handler on the loop thread when a signal arrives (libevent's self-pipe, so the handler is
/// an ordinary callback, not a signal context).
public final class SignalWatcher {
    public let loop: EventLoop
    private var event: OpaquePointer?
    private let body: (Int32) -> Void
    private let signal: Int32

    public init(loop: EventLoop, signal: Int32, _ body: @escaping (Int32) -> Void) {
        loop.assertInLoop()
        self.loop = loop
        self.body = body
        self.signal = signal
        let me = Unmanaged.passUnretained(self).toOpaque()
        event = event_new(loop.base, signal, Int16(EV_SIGNAL | EV_PERSIST), { sig, _, arg in
            let w = Unmanaged<SignalWatcher>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(w) { w.body(sig) }
        }, me)
        event_add(event, nil)
        loop.retain(self)
    }

    public func cancel() {
        guard let e = event else { return }
        event_free(e)
        event = nil
        loop.release(self)
    }
}
