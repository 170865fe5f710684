import Crypto
import Foundation
print(Keccak256.hash(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined())
