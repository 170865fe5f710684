import Crypto
import Codec
print(Hex.encode(Keccak256.hash(Array("abc".utf8))))
print(Hex.encode(SHA256.hash(Array("abc".utf8))))
