//go:build amd64 && !purego

#include "textflag.h"

// func toInputs512(dst *uint8, src *float32, n int) int
//
// Converts float32 activations to 5-bit inputs sixteen at a time while
// every one of a block is an integer in 0..31 (the check of
// Kernel.quantizeInputs: truncate, convert back, compare, and the integer
// at most 31 unsigned); returns how many it converted, a multiple of 16
// unless it reached n. The caller checks the rest one by one.
TEXT ·toInputs512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	MOVL $31, DX
	VPBROADCASTD DX, Z31
loop:
	MOVQ CX, DX
	SUBQ AX, DX
	JLE  done
	CMPQ DX, $16
	JLT  tail
	KXNORW K1, K1, K1
	JMP  body
tail:
	MOVL $0xffff, BX
	BZHIL DX, BX, BX
	KMOVW BX, K1
body:
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VCVTTPS2DQ Z0, Z1
	VCVTDQ2PS Z1, Z2
	VCMPPS $0, Z2, Z0, K1, K2    // an integer (NaN is not)
	VPCMPUD $2, Z31, Z1, K2, K2  // and at most 31, unsigned
	KXORW K1, K2, K3
	KORTESTW K3, K3
	JNZ  done                    // some element of the block is not
	VPMOVDB Z1, K1, (DI)(AX*1)
	ADDQ $16, AX
	CMPQ AX, CX
	JLT  loop
	MOVQ CX, AX
done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func relu512(dst *uint8, src *int8, n int, shift uint64)
//
// The ConvertingReLU of device outputs into 5-bit inputs, 64 at a time:
// min(31, max(0, y) >> shift).
TEXT ·relu512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ shift+24(FP), R8
	VMOVQ R8, X30                // shift count
	MOVL $0xff, DX
	SHRXL R8, DX, DX             // the bits a byte keeps after the shift
	VPBROADCASTB DX, Z29
	MOVL $31, DX
	VPBROADCASTB DX, Z28
	VPXORD Z27, Z27, Z27
	XORQ AX, AX
loop:
	MOVQ CX, DX
	SUBQ AX, DX
	JLE  done
	CMPQ DX, $64
	JLT  tail
	KXNORQ K1, K1, K1
	JMP  body
tail:
	MOVQ $-1, BX
	BZHIQ DX, BX, BX
	KMOVQ BX, K1
body:
	VMOVDQU8.Z (SI)(AX*1), K1, Z0
	VPMAXSB Z27, Z0, Z0          // max(0, y): 0..127
	VPSRLW X30, Z0, Z0           // shifted as words,
	VPANDD Z29, Z0, Z0           // bits from the neighbour byte cleared
	VPMINUB Z28, Z0, Z0
	VMOVDQU8 Z0, K1, (DI)(AX*1)
	ADDQ $64, AX
	JMP  loop
done:
	VZEROUPPER
	RET

// func quantize512(dst *int8, src *float32, n int) int
//
// QuantizeWeight sixteen at a time while every weight of a block lies
// strictly within +-63.5 (then the result is in -63..63): |v| + 0.5 in
// float64 (exact), truncated, the sign put back. Returns how many it did,
// a multiple of 16 unless it reached n; the caller does the rest.
TEXT ·quantize512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ $0x7fffffffffffffff, DX
	VPBROADCASTQ DX, Z31         // |x| mask, float64
	MOVQ $0x3fe0000000000000, DX
	VPBROADCASTQ DX, Z30         // 0.5
	MOVL $0x427e0000, DX
	VPBROADCASTD DX, Z29         // 63.5f
	MOVL $0x7fffffff, DX
	VPBROADCASTD DX, Z28         // |x| mask, float32
	VPXORD Z27, Z27, Z27
	XORQ AX, AX
loop:
	MOVQ CX, DX
	SUBQ AX, DX
	JLE  done
	CMPQ DX, $16
	JLT  tail
	KXNORW K1, K1, K1
	JMP  body
tail:
	MOVL $0xffff, BX
	BZHIL DX, BX, BX
	KMOVW BX, K1
body:
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VPANDD Z28, Z0, Z1
	VCMPPS $1, Z29, Z1, K1, K2   // |v| < 63.5 (NaN is not)
	KXORW K1, K2, K3
	KORTESTW K3, K3
	JNZ  done
	VPMOVD2M Z0, K4              // negative (and -0)
	VCVTPS2PD Y0, Z2
	VEXTRACTF32X8 $1, Z0, Y3
	VCVTPS2PD Y3, Z3
	VANDPD Z31, Z2, Z2
	VANDPD Z31, Z3, Z3
	VADDPD Z30, Z2, Z2
	VADDPD Z30, Z3, Z3
	VCVTTPD2DQ Z2, Y2
	VCVTTPD2DQ Z3, Y3
	VINSERTI32X8 $1, Y3, Z2, Z2  // trunc(|v| + 0.5)
	VPSUBD Z2, Z27, K4, Z2       // negated where v is negative
	VPMOVDB Z2, K1, (DI)(AX*1)
	ADDQ $16, AX
	CMPQ AX, CX
	JLT  loop
	MOVQ CX, AX
done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
