//go:build amd64 && !purego

#include "textflag.h"

// func sparseEncode512(dst, src *byte, blocks int) int
// Per block of 64 inputs: the mask of the bytes that are not 0 (VPTESTMB),
// stored as 8 bytes, then those bytes packed to the front (VPCOMPRESSB,
// zeroing the rest) stored whole; dst advances by 8 + popcount(mask).
TEXT ·sparseEncode512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ DI, R8
	TESTQ CX, CX
	JZ   enc_done

enc_loop:
	VMOVDQU8      (SI), Z0
	VPTESTMB      Z0, Z0, K1
	KMOVQ         K1, AX
	MOVQ          AX, (DI)
	VPCOMPRESSB.Z Z0, K1, Z1
	VMOVDQU8      Z1, 8(DI)
	POPCNTQ       AX, AX
	LEAQ          8(DI)(AX*1), DI
	ADDQ          $64, SI
	DECQ          CX
	JNZ           enc_loop

enc_done:
	VZEROUPPER
	SUBQ R8, DI
	MOVQ DI, ret+24(FP)
	RET

// func sparseDecode512(dst, src *byte, blocks, srclen int) (done, used int)
// Per block: the mask, the next 64 bytes of src (read whole: the loop runs
// only while mask and 64 bytes lie within src), spread to the mask's
// places with zeros elsewhere (VPEXPANDB), stored as 64 inputs; src
// advances by 8 + popcount(mask).
TEXT ·sparseDecode512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ srclen+24(FP), DX
	LEAQ -72(SI)(DX*1), DX // the last place a block may start
	MOVQ SI, R8
	XORQ R9, R9

dec_loop:
	CMPQ R9, CX
	JGE  dec_done
	CMPQ SI, DX
	JHI  dec_done
	MOVQ          (SI), AX
	KMOVQ         AX, K1
	VMOVDQU8      8(SI), Z1
	VPEXPANDB.Z   Z1, K1, Z0
	VMOVDQU8      Z0, (DI)
	POPCNTQ       AX, AX
	LEAQ          8(SI)(AX*1), SI
	ADDQ          $64, DI
	INCQ          R9
	JMP           dec_loop

dec_done:
	VZEROUPPER
	MOVQ R9, done+32(FP)
	SUBQ R8, SI
	MOVQ SI, used+40(FP)
	RET
