/// What became of one client request when the server took it.
enum CommandOutcome: Equatable {
    /// Its reply is in the writer.
    case answered
    /// Its reply comes later, into this slot (a write waiting to commit, a forwarded request).
    case deferred(UInt64)
    /// Nothing was done: an earlier command of the same connection must answer first
    /// (`SessionOrder`); the session runs it again then.
    case waiting
}
