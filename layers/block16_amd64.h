// The loop head of the AVX-512 kernels that go sixteen float32 (or int32)
// at a time with the last block under a mask (vec_amd64.s, adam_amd64.s).

// Sets K1 to the lanes of the block at AX below CX (n); jumps to done at
// the end. Uses DX, BX.
#define BLOCK16(done) \
	MOVQ CX, DX; \
	SUBQ AX, DX; \
	JLE  done; \
	MOVL $0xffff, BX; \
	CMPQ DX, $16; \
	JGE  2(PC); \
	BZHIL DX, BX, BX; \
	KMOVW BX, K1
