import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// libcrypto's ChaCha20-Poly1305 (RFC 8439) through EVP, with one pair of cipher contexts per thread.
///
/// The contexts are made once per thread and re-keyed on every call, so sealing a frame allocates nothing; they are
/// freed (and their key material cleansed by `EVP_CIPHER_CTX_free`) when the thread ends.
enum OpenSSLAEAD {
    /// The cipher, fetched from the default provider once per process.
    private nonisolated(unsafe) static let cipher: OpaquePointer = {
        guard let cipher = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil) else {
            fatalError("libcrypto has no ChaCha20-Poly1305")
        }
        return cipher
    }()

    /// The thread's contexts: one keyed for sealing, one for opening.
    private final class Contexts {
        let seal: OpaquePointer
        let open: OpaquePointer

        init() {
            guard let seal = EVP_CIPHER_CTX_new(), let open = EVP_CIPHER_CTX_new() else {
                fatalError("libcrypto cannot allocate a cipher context")
            }
            // The cipher is set once; later calls pass only key and nonce.
            precondition(EVP_EncryptInit_ex2(seal, OpenSSLAEAD.cipher, nil, nil, nil) == 1)
            precondition(EVP_DecryptInit_ex2(open, OpenSSLAEAD.cipher, nil, nil, nil) == 1)
            self.seal = seal
            self.open = open
        }

        deinit {
            EVP_CIPHER_CTX_free(seal)
            EVP_CIPHER_CTX_free(open)
        }
    }

    private static let threadKey: pthread_key_t = {
        var key = pthread_key_t()
        let created = pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<Contexts>.fromOpaque(pointer).release()
        }
        precondition(created == 0, "pthread_key_create failed")
        return key
    }()

    private static var contexts: Contexts {
        if let pointer = pthread_getspecific(threadKey) {
            return Unmanaged<Contexts>.fromOpaque(pointer).takeUnretainedValue()
        }
        let contexts = Contexts()
        pthread_setspecific(threadKey, Unmanaged.passRetained(contexts).toOpaque())
        return contexts
    }

    /// EVP takes `int` lengths: longer inputs go through in pieces of this size.
    private static let maxPiece = 1 << 30

    /// Seals `count` bytes at `input` into `output` (which may be `input` itself) and writes the 16-byte tag.
    static func seal(
        _ input: UnsafePointer<UInt8>?, count: Int, associatedData: UnsafePointer<UInt8>?, associatedCount: Int,
        key: UnsafePointer<UInt8>, nonce: UnsafePointer<UInt8>, output: UnsafeMutablePointer<UInt8>?,
        tag: UnsafeMutablePointer<UInt8>
    ) {
        let context = contexts.seal
        defer { ERR_clear_error() }
        precondition(EVP_EncryptInit_ex2(context, nil, key, nonce, nil) == 1, "ChaCha20-Poly1305 keying failed")
        var written: Int32 = 0
        let sealed =
            process(associatedData, associatedCount, nil) { EVP_EncryptUpdate(context, nil, &written, $0, $2) == 1 }
            && process(input, count, output) { EVP_EncryptUpdate(context, $1, &written, $0, $2) == 1 }
            && EVP_EncryptFinal_ex(context, output.map { $0 + count }, &written) == 1
        precondition(sealed, "ChaCha20-Poly1305 sealing failed")
        precondition(COpenSSL_aead_get_tag(context, tag, 16) == 1, "ChaCha20-Poly1305 tag unavailable")
    }

    /// Opens `count` ciphertext bytes at `input` into `output` (which may be `input`) if `tag` verifies.
    ///
    /// On failure the output holds unauthenticated bytes; callers discard it.
    static func open(
        _ input: UnsafePointer<UInt8>?, count: Int, associatedData: UnsafePointer<UInt8>?, associatedCount: Int,
        key: UnsafePointer<UInt8>, nonce: UnsafePointer<UInt8>, tag: UnsafePointer<UInt8>,
        output: UnsafeMutablePointer<UInt8>?
    ) -> Bool {
        let context = contexts.open
        defer { ERR_clear_error() }
        // The tag is copied first: libcrypto wants a mutable pointer, and the output may overlap the input.
        var expected = (
            tag[0], tag[1], tag[2], tag[3], tag[4], tag[5], tag[6], tag[7], tag[8], tag[9], tag[10], tag[11], tag[12],
            tag[13], tag[14], tag[15]
        )
        guard EVP_DecryptInit_ex2(context, nil, key, nonce, nil) == 1 else { return false }
        var written: Int32 = 0
        let ok =
            process(associatedData, associatedCount, nil) { EVP_DecryptUpdate(context, nil, &written, $0, $2) == 1 }
            && process(input, count, output) { EVP_DecryptUpdate(context, $1, &written, $0, $2) == 1 }
        let tagSet = withUnsafeMutableBytes(of: &expected) {
            COpenSSL_aead_set_tag(context, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 16) == 1
        }
        guard ok, tagSet else { return false }
        return EVP_DecryptFinal_ex(context, output.map { $0 + count }, &written) > 0
    }

    /// Calls `update(input piece, output piece, piece length)` over `count` bytes (nothing for an empty input);
    /// false as soon as one call fails.
    private static func process(
        _ input: UnsafePointer<UInt8>?, _ count: Int, _ output: UnsafeMutablePointer<UInt8>?,
        _ update: (UnsafePointer<UInt8>, UnsafeMutablePointer<UInt8>?, Int32) -> Bool
    ) -> Bool {
        guard count > 0, let input else { return true }
        var offset = 0
        while offset < count {
            let piece = min(maxPiece, count - offset)
            guard update(input + offset, output.map { $0 + offset }, Int32(piece)) else { return false }
            offset += piece
        }
        return true
    }
}
