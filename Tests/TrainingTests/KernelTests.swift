import CTrainingKernels
import Testing

@Suite struct KernelTests {
    @Test func portableProductIsTheSchoolbookSum() {
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        let b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: 0, count: 4)
        otk_sgemm_nn(2, 2, 3, a, 3, b, 2, &c, 2, 0)
        #expect(c == [58, 64, 139, 154])
    }
}
