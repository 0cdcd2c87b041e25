//go:build amd64 && !purego

#include "textflag.h"

// Constants of boxMuller (noise.go), as float32 or int32 for broadcasts.
DATA bmconst<>+0(SB)/4, $0xbfb17218 // bmLn2 = -2 ln 2
DATA bmconst<>+4(SB)/4, $0xc2000000 // -32
DATA bmconst<>+8(SB)/4, $0xc0800000 // bmL0
DATA bmconst<>+12(SB)/4, $0xbfaaaaeb // bmL1
DATA bmconst<>+16(SB)/4, $0xbf4c8ec6 // bmL2
DATA bmconst<>+20(SB)/4, $0xbf1bd39b // bmL3
DATA bmconst<>+28(SB)/4, $0x30c90fdb // bmStep = pi/2 / 2^30
DATA bmconst<>+32(SB)/4, $0xbe2aaaa3 // bmS1
DATA bmconst<>+36(SB)/4, $0x3c08839d // bmS2
DATA bmconst<>+40(SB)/4, $0xb94ca1f0 // bmS3
DATA bmconst<>+48(SB)/4, $0xbeffffd9 // bmC1
DATA bmconst<>+52(SB)/4, $0x3d2a9f3f // bmC2
DATA bmconst<>+56(SB)/4, $0xbab226b1 // bmC3
DATA bmconst<>+64(SB)/4, $0x20000000 // 2^29, int
DATA bmconst<>+68(SB)/4, $1 // 1, int
DATA bmconst<>+72(SB)/4, $0x3f800000 // 1
DATA bmconst<>+76(SB)/4, $0x80000000 // sign bit
DATA bmconst<>+80(SB)/8, $0x9e3779b97f4a7c15 // golden64
DATA bmconst<>+88(SB)/8, $0xbf58476d1ce4e5b9 // mix64's multipliers
DATA bmconst<>+96(SB)/8, $0x94d049bb133111eb
GLOBL bmconst<>(SB), RODATA|NOPTR, $104

#define C_LN2 bmconst<>+0(SB)
#define C_M32 bmconst<>+4(SB)
#define C_L0 bmconst<>+8(SB)
#define C_L1 bmconst<>+12(SB)
#define C_L2 bmconst<>+16(SB)
#define C_L3 bmconst<>+20(SB)
#define C_STEP bmconst<>+28(SB)
#define C_S1 bmconst<>+32(SB)
#define C_S2 bmconst<>+36(SB)
#define C_S3 bmconst<>+40(SB)
#define C_C1 bmconst<>+48(SB)
#define C_C2 bmconst<>+52(SB)
#define C_C3 bmconst<>+56(SB)
#define C_2P29 bmconst<>+64(SB)
#define C_ONEI bmconst<>+68(SB)
#define C_ONE bmconst<>+72(SB)
#define C_SIGN bmconst<>+76(SB)
#define C_GOLDEN bmconst<>+80(SB)
#define C_MIX1 bmconst<>+88(SB)
#define C_MIX2 bmconst<>+96(SB)

// MIXV sets out to mix64's output for the inputs in c, already
// incremented by golden64 (Z30, Z29: the multipliers; tmp scratch).
#define MIXV(c, out, tmp) \
	VPSRLQ  $30, c, tmp; \
	VPXORQ  tmp, c, out; \
	VPMULLQ Z30, out, out; \
	VPSRLQ  $27, out, tmp; \
	VPXORQ  tmp, out, out; \
	VPMULLQ Z29, out, out; \
	VPSRLQ  $31, out, tmp; \
	VPXORQ  tmp, out, out

// GROUP computes the 32 numbers of the group whose sixteen draws' mix64
// inputs are in Z28 (draws 0-7: the radius words) and Z27 (draws 8-15:
// the angle words), as float64: r cos t of words 0-7 in Z0, of words 8-15
// in Z1, r sin t in Z2 and Z3. Each instruction is one operation of
// boxMuller, in its order (VGETEXPPS and VGETMANTPS do its bit
// operations on u). Constants in registers: Z26 int 1, Z22 float 1, Z18
// the sign bit.
#define GROUP \
	MIXV(Z28, Z0, Z1); \
	MIXV(Z27, Z5, Z2); \
	VPORD   Z26, Z0, Z4; \
	VCVTUDQ2PS Z4, Z4; \
	VGETMANTPS $3, Z4, Z7; \
	VGETEXPPS Z4, Z6; \
	VCMPPS  $1, Z22, Z7, K1; \
	VADDPS.BCST C_M32, Z6, Z6; \
	VADDPS  Z22, Z6, K1, Z6; \
	VSUBPS  Z22, Z7, Z9; \
	VADDPS  Z22, Z7, Z10; \
	VDIVPS  Z10, Z9, Z9; \
	VMULPS  Z9, Z9, Z10; \
	VMULPS.BCST C_L3, Z10, Z11; \
	VADDPS.BCST C_L2, Z11, Z11; \
	VMULPS  Z10, Z11, Z11; \
	VADDPS.BCST C_L1, Z11, Z11; \
	VMULPS  Z10, Z11, Z11; \
	VADDPS.BCST C_L0, Z11, Z11; \
	VMULPS  Z9, Z11, Z11; \
	VMULPS.BCST C_LN2, Z6, Z6; \
	VADDPS  Z11, Z6, Z6; \
	VSQRTPS Z6, Z6; \
	VPADDD.BCST C_2P29, Z5, Z12; \
	VPSRLD  $30, Z12, Z12; \
	VPSLLD  $2, Z5, Z5; \
	VPSRAD  $2, Z5, Z5; \
	VCVTDQ2PS Z5, Z5; \
	VMULPS.BCST C_STEP, Z5, Z5; \
	VMULPS  Z5, Z5, Z13; \
	VMULPS.BCST C_S3, Z13, Z14; \
	VADDPS.BCST C_S2, Z14, Z14; \
	VMULPS  Z13, Z14, Z14; \
	VADDPS.BCST C_S1, Z14, Z14; \
	VMULPS  Z13, Z5, Z15; \
	VMULPS  Z14, Z15, Z15; \
	VADDPS  Z5, Z15, Z15; \
	VMULPS.BCST C_C3, Z13, Z14; \
	VADDPS.BCST C_C2, Z14, Z14; \
	VMULPS  Z13, Z14, Z14; \
	VADDPS.BCST C_C1, Z14, Z14; \
	VMULPS  Z13, Z14, Z14; \
	VADDPS  Z22, Z14, Z14; \
	VPTESTMD Z26, Z12, K2; \
	VBLENDMPS Z15, Z14, K2, Z16; \
	VBLENDMPS Z14, Z15, K2, Z17; \
	VPADDD  Z26, Z12, Z13; \
	VPSLLD  $30, Z13, Z13; \
	VPTERNLOGD $0x78, Z18, Z13, Z16; \
	VPSLLD  $30, Z12, Z13; \
	VPTERNLOGD $0x78, Z18, Z13, Z17; \
	VMULPS  Z6, Z16, Z16; \
	VMULPS  Z6, Z17, Z17; \
	VCVTPS2PD Y16, Z0; \
	VEXTRACTF32X8 $1, Z16, Y1; \
	VCVTPS2PD Y1, Z1; \
	VCVTPS2PD Y17, Z2; \
	VEXTRACTF32X8 $1, Z17, Y3; \
	VCVTPS2PD Y3, Z3

// func normalGroups512(key, group uint64, buf *float64, n int)
//
// Writes n > 0 numbers of the stream with key key, from the start of
// group group on: the same numbers as normalGroups. A last group cut short is
// computed whole and stored under a mask.
TEXT ·normalGroups512(SB), NOSPLIT, $0-32
	MOVQ key+0(FP), AX
	MOVQ group+8(FP), BX
	MOVQ buf+16(FP), SI
	MOVQ n+24(FP), CX
	// Z28 lanes j: key + (16g + j + 1) golden64; Z27 eight draws on.
	MOVQ C_GOLDEN, DX
	SHLQ $4, BX
	INCQ BX
	IMULQ DX, BX
	ADDQ AX, BX
	VPBROADCASTQ BX, Z28
	VPBROADCASTQ DX, Z31
	MOVQ $0x0706050403020100, R8
	VMOVQ R8, X0
	VPMOVZXBQ X0, Z0
	VPMULLQ Z31, Z0, Z0
	VPADDQ Z0, Z28, Z28
	SHLQ $3, DX
	VPBROADCASTQ DX, Z0
	VPADDQ Z0, Z28, Z27
	SHLQ $1, DX
	VPBROADCASTQ DX, Z31 // 16 golden64: the next group
	VPBROADCASTQ C_MIX1, Z30
	VPBROADCASTQ C_MIX2, Z29
	VPBROADCASTD C_ONEI, Z26
	VPBROADCASTD C_ONE, Z22
	VPBROADCASTD C_SIGN, Z18
	CMPQ CX, $32
	JLT  tail

loop:
	GROUP
	VMOVUPD Z0, (SI)
	VMOVUPD Z1, 64(SI)
	VMOVUPD Z2, 128(SI)
	VMOVUPD Z3, 192(SI)
	VPADDQ  Z31, Z28, Z28
	VPADDQ  Z31, Z27, Z27
	ADDQ    $256, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JGE     loop

tail:
	TESTQ CX, CX
	JZ    done
	GROUP
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX // CX < 32 ones: the numbers wanted
	KMOVD AX, K1
	VMOVUPD Z0, K1, (SI)
	KSHIFTRD $8, K1, K1
	VMOVUPD Z1, K1, 64(SI)
	KSHIFTRD $8, K1, K1
	VMOVUPD Z2, K1, 128(SI)
	KSHIFTRD $8, K1, K1
	VMOVUPD Z3, K1, 192(SI)

done:
	VZEROUPPER
	RET
