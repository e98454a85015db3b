/// Carries a loop-confined value through a `@Sendable` closure (for example a completion that a
/// background thread submits back to the loop). Reading `value` off the loop thread is a bug,
/// caught by an assertion in debug builds; that check is what makes the `@unchecked` sound.
public struct LoopBound<Value>: @unchecked Sendable {
    public let loop: EventLoop
    private let stored: Value

    public init(_ value: Value, loop: EventLoop) {
        self.loop = loop
        self.stored = value
    }

    public var value: Value {
        loop.assertInLoop()
        return stored
    }

    /// Runs `body` with the value on the loop thread. Safe from any thread.
    public func submit(_ body: @escaping @Sendable (Value) -> Void) {
        let me = self
        loop.submit { body(me.value) }
    }
}
