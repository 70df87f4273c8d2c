/*
 * Stand-in libcublas.so: every GEMM is computed by the stand-in cuBLASLt,
 * as the real cuBLAS does for many shapes, so a probe that counted both
 * would double count; cublasLtMatmul launches the kernel.
 */
#include "cuda.h"

static cublasStatus_t lt(const void *A)
{
	volatile cublasStatus_t r = cublasLtMatmul(0, 0, 0, A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	return r;
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
			      const float *alpha, const float *A, int lda, const float *B, int ldb,
			      const float *beta, float *C, int ldc)
{
	return lt(A);
}

cublasStatus_t cublasZgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
			      const cuDoubleComplex *alpha, const cuDoubleComplex *A, int lda,
			      const cuDoubleComplex *B, int ldb, const cuDoubleComplex *beta, cuDoubleComplex *C,
			      int ldc)
{
	return lt(A);
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
			    const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
			    cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
			    cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
	return lt(A);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
					 int k, const float *alpha, const float *A, int lda, long long strideA,
					 const float *B, int ldb, long long strideB, const float *beta, float *C,
					 int ldc, long long strideC, int batchCount)
{
	return lt(A);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
					  int n, int k, const void *alpha, const void *A, cudaDataType Atype,
					  int lda, long long strideA, const void *B, cudaDataType Btype, int ldb,
					  long long strideB, const void *beta, void *C, cudaDataType Ctype, int ldc,
					  long long strideC, int batchCount, cublasComputeType_t computeType,
					  cublasGemmAlgo_t algo)
{
	return lt(A);
}
