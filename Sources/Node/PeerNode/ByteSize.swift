/// Sizes as people write them: `1234`, `10K`, `5MiB`, `2G`.
public enum ByteSize {
    /// Bytes from `text`: a whole number, optionally followed by K, M, G, T (powers of 1,000), KiB, MiB, GiB, TiB
    /// (powers of 1,024) or B; nil when it is not one or overflows 64 bits.
    public static func parse(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40), ("K", 1_000), ("M", 1_000_000),
            ("G", 1_000_000_000), ("T", 1_000_000_000_000), ("B", 1),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let number = UInt64(text.dropLast(suffix.count)) else { return nil }
            let (value, overflow) = number.multipliedReportingOverflow(by: scale)
            return overflow ? nil : value
        }
        return UInt64(text)
    }
}
