import Foundation

/// A secret kept in a file (a password, an API token, the cluster secret): the file's text
/// without surrounding whitespace, so that `echo secret > file` works. Nil when unreadable or
/// empty. Secrets come from files rather than flags so that they never show in `ps`.
public enum SecretFile {
    public static func read(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let s = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return s.isEmpty ? nil : s
    }
}
