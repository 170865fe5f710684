import Chain
import Codec

/// Amounts of OPEN as a person types them: `10 OPEN`, `10OPEN`, `0.5 OPEN`, `1000 wei` or plain wei (`1000`).
///
/// The unit is case-insensitive and the space before it optional; an OPEN amount has at most 18 decimals (one wei),
/// a wei amount none. Anything else, or a value above 2^256 - 1 wei, is refused.
public enum OpenAmount {
    /// The longest text accepted.
    static let maximumLength = 100

    /// The wei `text` names, or nil when it is not an amount.
    public static func parse(_ text: String) -> UInt256? {
        guard text.utf8.count <= maximumLength else { return nil }
        var number = Substring(text).trimmingBlanks()
        var perUnit: UInt256 = 1
        var decimals = 0
        if let unit = ["open", "wei"].first(where: { number.lowercased().hasSuffix($0) }) {
            number = number.dropLast(unit.count).trimmingBlanks()
            if unit == "open" {
                perUnit = NetworkConfig.weiPerOpen
                decimals = 18
            }
        }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = UInt256(decimal: parts[0]) else { return nil }
        var fraction = parts.count == 2 ? parts[1] : ""
        guard parts.count == 1 || !fraction.isEmpty, fraction.count <= decimals else { return nil }
        fraction += String(repeating: "0", count: decimals - fraction.count)
        let fractionWei = fraction.isEmpty ? UInt256.zero : UInt256(decimal: fraction)
        guard let fractionWei else { return nil }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: perUnit)
        let (total, carry) = scaled.addingReportingOverflow(fractionWei)
        guard !overflow, !carry else { return nil }
        return total
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs.
    fileprivate func trimmingBlanks() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
