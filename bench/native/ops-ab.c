/* ops-ab THREADS ROUNDS LIB...: the ViT step's attention (batch 128, 4 heads, 17 tokens, heads of 32), LayerNorm backward, bias
 * broadcast and bias gradient (2176 x 128), libraries alternated in one process; best of 5 calls a round, median of rounds.
 * A millisecond's pause between ops lets the pool's polling threads (200 us) go to sleep. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
typedef void (*af)(int64_t,int64_t,int64_t,int64_t,const float*,const float*,const float*,int64_t,float,const int32_t*,float*,float*,int64_t);
typedef void (*ab)(int64_t,int64_t,int64_t,int64_t,const float*,const float*,const float*,int64_t,float,const float*,const float*,int64_t,float*,float*,float*);
typedef void (*lnb)(int64_t,int64_t,const float*,const float*,const float*,const float*,const float*,float*,float*,float*);
typedef void (*rowf)(int64_t,int64_t,const float*,float*);
typedef void (*thr)(int32_t);
#define NOPS 5
const char *names[NOPS]={"attn_fwd","attn_bwd","ln_bwd","add_row","sum_rows"};
int main(int argc,char**argv){ int th=atoi(argv[1]), rounds=atoi(argv[2]), L=argc-3;
  int64_t M=2176,D=128; size_t n=M*D*3;
  float *a=aligned_alloc(64,n*4),*p=aligned_alloc(64,512*17*17*4),*o=aligned_alloc(64,M*D*4),*dq=aligned_alloc(64,n*4),*g=aligned_alloc(64,4096),*be=aligned_alloc(64,4096),*mu=aligned_alloc(64,M*4),*rs=aligned_alloc(64,M*4),*dx=aligned_alloc(64,M*D*4);
  for(size_t i=0;i<n;i++){a[i]=(i%97)*0.01f-0.4f;dq[i]=0;} for(size_t i=0;i<M*D;i++){o[i]=0.1f;dx[i]=0;} for(int i=0;i<D;i++){g[i]=1;be[i]=0;} for(int i=0;i<M;i++){mu[i]=0.1f;rs[i]=1.1f;}
  void *h[16]; double *t=calloc((size_t)L*NOPS*rounds,sizeof(double));
  for(int l=0;l<L;l++){char c[256];snprintf(c,256,"cp %s /tmp/ops-ab-%d-%d.so",argv[3+l],getpid(),l);system(c);snprintf(c,256,"/tmp/ops-ab-%d-%d.so",getpid(),l);h[l]=dlopen(c,RTLD_NOW|RTLD_LOCAL);remove(c);((thr)dlsym(h[l],"t4j_set_num_threads"))(th);}
  for(int r=0;r<rounds;r++) for(int l=0;l<L;l++){ af F=dlsym(h[l],"t4j_attention_forward"); ab B=dlsym(h[l],"t4j_attention_backward"); lnb N=dlsym(h[l],"t4j_layer_norm_backward"); rowf AR=dlsym(h[l],"t4j_add_row"), SR=dlsym(h[l],"t4j_sum_rows");
    for(int op=0;op<NOPS;op++){ usleep(1000); double best=1e9; for(int k=0;k<5;k++){ double t0=now();
      switch(op){case 0:F(128,4,17,32,a,a+128,a+256,384,0.17f,NULL,p,o,128);break;
        case 1:B(128,4,17,32,a,a+128,a+256,384,0.17f,p,o,128,dq,dq+128,dq+256);break;
        case 2:N(M,D,a,g,mu,rs,o,dx,g+256,be+256);break;
        case 3:AR(M,D,g,dx);break; case 4:SR(M,D,o,g+512);break;}
      double dt=now()-t0; if(dt<best)best=dt;} t[((size_t)l*NOPS+op)*rounds+r]=best; } }
  for(int op=0;op<NOPS;op++) for(int l=0;l<L;l++){ double *x=t+((size_t)l*NOPS+op)*rounds; qsort(x,rounds,sizeof(double),cmpd); printf("%-9s threads %d %-28s median %8.1f us\n",names[op],th,argv[3+l],x[rounds/2]*1e6);} }
