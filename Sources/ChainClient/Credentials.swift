/// How a client authenticates to chainstore nodes: `AUTH password` (the default user) or
/// `AUTH user password`.
public struct Credentials: Sendable, Equatable {
    public var user: String?
    public var password: String

    public init(user: String? = nil, password: String) {
        self.user = user
        self.password = password
    }

    /// The AUTH command these credentials send.
    public var authCommand: [[UInt8]] {
        [Array("AUTH".utf8)] + (user.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)]
    }
}
