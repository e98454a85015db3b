import ChainSecurity
import Foundation

/// Who may use the client port, and what for: the `default` user (`--requirepass-file`) and named
/// users (`--users-file`), each allowed to read and write (`rw`) or only to read (`ro`), plus the
/// internal user other nodes authenticate as when they forward a request (its password derives
/// from the cluster secret). Passwords are kept only as keyed digests and compared in constant
/// time; they are never logged.
public struct UserTable: Sendable {
    public enum Permission: String, Sendable {
        case readWrite = "rw"
        case readOnly = "ro"
    }

    public struct User: Sendable {
        public let name: String
        public let permission: Permission
        fileprivate let digest: [UInt8]
    }

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case badLine(Int, String)
        case duplicate(String)
        case reserved(String)
        case emptyPassword(String)

        public var description: String {
            switch self {
            case let .badLine(n, why): return "users file line \(n): \(why) (expected: NAME rw|ro PASSWORD)"
            case let .duplicate(name): return "user '\(name)' is defined twice"
            case let .reserved(name): return "user name '\(name)' is reserved for the nodes themselves"
            case let .emptyPassword(name): return "user '\(name)' has an empty password"
            }
        }
    }

    /// The user a node's forwarder authenticates as.
    public static let nodeUser = "chainstore-node"

    private var users: [String: User] = [:]
    /// A per-process key for the digests: they are compared, never stored or shown.
    private let key = Secrets.randomBytes(32)

    /// `requirepass`: the default user's password; `usersFile`: the text of the users file;
    /// `clusterSecret`: enables the internal forwarding user.
    public init(requirepass: String?, usersFile: String?, clusterSecret: [UInt8]?) throws(ParseError) {
        if let requirepass {
            guard !requirepass.isEmpty else { throw .emptyPassword("default") }
            users["default"] = User(name: "default", permission: .readWrite, digest: digest(Array(requirepass.utf8)))
        }
        if let usersFile {
            for (i, raw) in usersFile.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                if line.isEmpty || line.hasPrefix("#") { continue }
                let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
                guard parts.count == 3 else { throw .badLine(i + 1, "three fields needed") }
                let name = String(parts[0])
                guard Self.isValidName(name) else { throw .badLine(i + 1, "a name is 1-64 letters, digits, '-', '_' or '.'") }
                guard let permission = Permission(rawValue: String(parts[1])) else { throw .badLine(i + 1, "permission must be rw or ro") }
                guard name != Self.nodeUser else { throw .reserved(name) }
                guard users[name] == nil else { throw .duplicate(name) }
                let password = String(parts[2]).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !password.isEmpty else { throw .emptyPassword(name) }
                users[name] = User(name: name, permission: permission, digest: digest(Array(password.utf8)))
            }
        }
        if let clusterSecret, !users.isEmpty {
            users[Self.nodeUser] = User(name: Self.nodeUser, permission: .readWrite,
                                        digest: digest(Array(Self.forwardingPassword(secret: clusterSecret).utf8)))
        }
    }

    /// True when no user is configured: every connection may do everything.
    public var isOpen: Bool { users.isEmpty }

    /// The user whose name and password these are, or nil. Unknown names cost the same work as
    /// known ones, so timing tells nothing about which names exist.
    public func authenticate(user name: String, password: [UInt8]) -> User? {
        let presented = digest(password)
        guard let u = users[name] else {
            _ = Secrets.constantTimeEqual(presented, presented)
            return nil
        }
        return Secrets.constantTimeEqual(presented, u.digest) ? u : nil
    }

    /// The internal user's password: a digest of the cluster secret, so that it is the same on
    /// every node and worthless without the secret.
    public static func forwardingPassword(secret: [UInt8]) -> String {
        Secrets.hmacSHA256(key: secret, message: Array("chainstore client-port forwarding".utf8))
            .map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    private func digest(_ password: [UInt8]) -> [UInt8] { Secrets.hmacSHA256(key: key, message: password) }

    static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 || c == 46
        }
    }
}
