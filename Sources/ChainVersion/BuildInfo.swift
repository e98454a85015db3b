/// The one version every chainstore binary reports (`--version`, INFO, `/status`, metrics), and
/// the commit it was built from (written at build time by `Plugins/BuildInfoPlugin`).
public enum BuildInfo {
    public static let version = "0.3.0"
    public static let commit: String = buildCommit
    /// "0.3.0 (commit 1a2b3c4d5e6f)": the `--version` line after the binary's name.
    public static let description = "\(version) (commit \(commit))"
}
