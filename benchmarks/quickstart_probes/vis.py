"""Vision-tower-only probe: Qwen2.5-VL visual (random init) -> mean pool of merged tokens -> linear -> CE."""
import sys, time, math, random, argparse, torch, numpy as np
torch.set_num_threads(1)
from transformers import Qwen2_5_VLForConditionalGeneration
from unifer.testing import build_tokenizer, build_processor, tiny_config
from unifer.data.synfer import SYNFER_EMOTIONS, draw_face, item_seed
ap=argparse.ArgumentParser()
ap.add_argument("--px",type=int,default=112); ap.add_argument("--depth",type=int,default=3); ap.add_argument("--vhid",type=int,default=128)
ap.add_argument("--lr",type=float,default=1e-3); ap.add_argument("--steps",type=int,default=400); ap.add_argument("--bs",type=int,default=32)
ap.add_argument("--ntrain",type=int,default=4000); ap.add_argument("--ncls",type=int,default=8); ap.add_argument("--fullatt",type=int,default=1)
ap.add_argument("--patch",type=int,default=14); ap.add_argument("--const",type=int,default=0); ap.add_argument("--window",type=int,default=112); ap.add_argument("--bag",type=int,default=0); ap.add_argument("--pool",default="mean"); ap.add_argument("--init",type=float,default=0.02); ap.add_argument("--eval_every",type=int,default=100)
a=ap.parse_args(); print(vars(a),flush=True)
import unifer.testing as T; T.PATCH_SIZE=a.patch
torch.manual_seed(0)
emos=SYNFER_EMOTIONS[:a.ncls]
tok=build_tokenizer(); proc=T.build_processor(tok,min_pixels=4*a.patch*a.patch,max_pixels=a.px*a.px)
over=dict(hidden_size=128,vision_hidden_size=a.vhid,vision_num_heads=4,vision_intermediate_size=2*a.vhid,vision_depth=a.depth,initializer_range=a.init,window_size=a.window)
if a.fullatt: over["fullatt_block_indexes"]=list(range(a.depth))
cfg=T.tiny_config(tok,**over)
model=Qwen2_5_VLForConditionalGeneration(cfg); vis=model.model.visual
head=torch.nn.Linear(128,len(emos))
def enc(ims):
    o=proc.image_processor(images=ims,return_tensors="pt"); return o["pixel_values"],o["image_grid_thw"]
t0=time.time()
def build(seed,n):
    ys=[i%len(emos) for i in range(n)]; ims=[draw_face(emos[y],item_seed(seed,i),size=a.px) for i,y in enumerate(ys)]
    pv,g=enc(ims); return pv.view(n,-1,pv.shape[-1]),g,torch.tensor(ys)
tr=build(0,a.ntrain); te=build(1,400); print("data",round(time.time()-t0,1),"tokens/img",tr[0].shape[1]//4,flush=True)
bagnet=torch.nn.Sequential(torch.nn.Linear(tr[0].shape[-1],256),torch.nn.GELU(),torch.nn.Linear(256,128))
def fwd(pv,g):
    if a.bag: return head(bagnet(pv).amax(1) if a.bag==2 else bagnet(pv).mean(1))
    n=pv.shape[0]; f=vis(pv.reshape(-1,pv.shape[-1]),grid_thw=g)
    f=f.pooler_output if hasattr(f,"pooler_output") else f
    f=f.view(n,-1,f.shape[-1]); return head(f.amax(1) if a.pool=='max' else f.mean(1))
params=list(vis.parameters())+list(head.parameters())+list(bagnet.parameters())
opt=torch.optim.AdamW(params,lr=a.lr,weight_decay=0.0,betas=(0.9,0.95))
sched=torch.optim.lr_scheduler.LambdaLR(opt,lambda s:min(1,(s+1)/30)*(1 if a.const else 0.5*(1+math.cos(math.pi*min(s,a.steps)/a.steps))))
def acc():
    vis.eval(); c=0
    with torch.no_grad():
        for s in range(0,400,100):
            c+=(fwd(te[0][s:s+100],te[1][s:s+100]).argmax(-1)==te[2][s:s+100]).sum().item()
    vis.train(); return c/400
t0=time.time(); g=torch.Generator().manual_seed(0)
for step in range(a.steps):
    idx=torch.randint(0,a.ntrain,(a.bs,),generator=g)
    out=fwd(tr[0][idx],tr[1][idx]); loss=torch.nn.functional.cross_entropy(out,tr[2][idx])
    loss.backward(); gn=torch.nn.utils.clip_grad_norm_(params,1.0); opt.step(); sched.step(); opt.zero_grad()
    if (step+1)%a.eval_every==0 or step==0: print(step+1,round(loss.item(),3),"gn",round(gn.item(),3),"t",round(time.time()-t0,1),"acc",acc(),flush=True)
