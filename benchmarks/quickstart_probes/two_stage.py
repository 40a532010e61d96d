"""Stage 0 (vision tower + max-pooled head) then the language model reading it, in a plain loop (quickstart research).

Example: python two_stage.py --ncls 5 --vsteps 600 --lsteps 300 --merger 1 --lr 2e-3   (see docs/quickstart.md)"""
import time, math, argparse, torch, numpy as np
from multiprocessing import Pool
ap=argparse.ArgumentParser()
ap.add_argument("--px",type=int,default=56); ap.add_argument("--patch",type=int,default=4)
ap.add_argument("--hid",type=int,default=128); ap.add_argument("--layers",type=int,default=2)
ap.add_argument("--depth",type=int,default=2); ap.add_argument("--vhid",type=int,default=64)
ap.add_argument("--vsteps",type=int,default=800); ap.add_argument("--vlr",type=float,default=1e-3)
ap.add_argument("--pool",default="max"); ap.add_argument("--targets",default="emotion")
ap.add_argument("--lsteps",type=int,default=300); ap.add_argument("--lr",type=float,default=1e-3); ap.add_argument("--tmult",type=float,default=0.0)
ap.add_argument("--bs",type=int,default=32); ap.add_argument("--ntrain",type=int,default=6000); ap.add_argument("--ncls",type=int,default=8)
ap.add_argument("--prompt",default="short"); ap.add_argument("--every",type=int,default=100); ap.add_argument("--threads",type=int,default=1)
ap.add_argument("--merge",type=int,default=2); ap.add_argument("--full",default="all"); ap.add_argument("--window",type=int,default=112); ap.add_argument("--aux",type=float,default=0.0); ap.add_argument("--merger",type=int,default=0); ap.add_argument("--save_vis",default=""); ap.add_argument("--load_vis",default=""); ap.add_argument("--heads",type=int,default=4); ap.add_argument("--lwarm",type=int,default=20); ap.add_argument("--switch",type=int,default=10**9); ap.add_argument("--nw",type=float,default=1.0); ap.add_argument("--qk",type=float,default=1.0); ap.add_argument("--mlpmean",type=float,default=0.0); ap.add_argument("--tokw",type=float,default=0.0)
a=ap.parse_args(); print(vars(a),flush=True)
torch.set_num_threads(a.threads)
import unifer.testing as T
T.MERGE_SIZE=a.merge
from transformers import Qwen2_5_VLForConditionalGeneration
from unifer.data.synfer import SYNFER_EMOTIONS, draw_face, item_seed, geometry
from unifer.prompts import chat_messages, fer_question
torch.manual_seed(0)
emos=SYNFER_EMOTIONS[:a.ncls]
tok=T.build_tokenizer(); m=a.merge*a.patch; proc=T.build_processor(tok,min_pixels=m*m,max_pixels=a.px*a.px,patch_size=a.patch)
over=dict(num_attention_heads=a.heads,hidden_size=a.hid,num_hidden_layers=a.layers,vision_hidden_size=a.vhid,vision_num_heads=4,vision_intermediate_size=2*a.vhid,
          vision_depth=a.depth,intermediate_size=2*a.hid,patch_size=a.patch,fullatt_block_indexes=list(range(a.depth)) if a.full=="all" else [int(x) for x in a.full.split(",")],window_size=a.window)
cfg=T.tiny_config(tok,**over); model=Qwen2_5_VLForConditionalGeneration(cfg)
print("params",sum(p.numel() for p in model.parameters()),"vision",sum(p.numel() for p in model.model.visual.parameters()))
def draw(job): return np.asarray(draw_face(job[0],job[1],size=job[2]))
def build(seed,n):
    ys=[i%len(emos) for i in range(n)]; sd=[item_seed(seed,i) for i in range(n)]
    with Pool(2) as pool: ims=pool.map(draw,[(emos[y],s,a.px) for y,s in zip(ys,sd)],chunksize=64)
    from PIL import Image
    o=proc.image_processor(images=[Image.fromarray(x) for x in ims],return_tensors="pt"); pv=o["pixel_values"]
    return pv.view(n,-1,pv.shape[-1]),o["image_grid_thw"][:1],ys,sd
t0=time.time(); tr=build(0,a.ntrain); te=build(1,400); print("data",round(time.time()-t0,1),flush=True)
vis=model.model.visual
def feats(pv,g):
    n=pv.shape[0]; return vis(pv.reshape(-1,pv.shape[-1]),grid_thw=g.repeat(n,1)).pooler_output.view(n,-1,a.hid)
# stage 0 targets
if a.targets=="emotion":
    keys=["emotion"]; vocab={"emotion":list(emos)}
    def tg(i): return {"emotion":tr[2][i]}
else:
    keys=["eyes","brows","mouth"]; G=[geometry(emos[y],s) for y,s in zip(tr[2],tr[3])]
    vocab={k:sorted({g[k] for g in G}) for k in keys}
    def tg(i): return {k:vocab[k].index(G[i][k]) for k in keys}
heads=torch.nn.ModuleDict({k:torch.nn.Linear(a.hid,len(v)) for k,v in vocab.items()})
def pool(f):
    if a.pool in ("max","maxmean","maxtok"): return f.amax(1)
    if a.pool=="mean": return f.mean(1)
    return torch.cat([f.amax(1)])
mmh=torch.nn.Sequential(torch.nn.Linear(a.hid,2*a.hid),torch.nn.GELU()); mmo=torch.nn.Linear(2*a.hid,len(emos))
def mmlogits(f): return mmo(mmh(f).mean(1))
vp=list(vis.parameters())+list(heads.parameters())+list(mmh.parameters())+list(mmo.parameters())
vopt=torch.optim.AdamW(vp,lr=a.vlr,weight_decay=0.0,betas=(0.9,0.95))
vs=torch.optim.lr_scheduler.LambdaLR(vopt,lambda s:min(1,(s+1)/30)*0.5*(1+math.cos(math.pi*min(s,a.vsteps)/max(a.vsteps,1))))
gv=torch.Generator().manual_seed(1); t0=time.time()
TG={k:torch.tensor([tg(i)[k] for i in range(a.ntrain)]) for k in keys}
for s in range(a.vsteps):
    idx=torch.randint(0,a.ntrain,(a.bs,),generator=gv)
    f=feats(tr[0][idx],tr[1]); pf=pool(f)
    l=sum(torch.nn.functional.cross_entropy(heads[k](pf),TG[k][idx]) for k in keys)
    if s>=a.switch and a.tokw==0: l=l+a.nw*sum(torch.nn.functional.cross_entropy(heads[k](torch.nn.functional.rms_norm(f,(f.shape[-1],)).mean(1)),TG[k][idx]) for k in keys)
    if a.pool=="maxtok": l=l+sum(torch.nn.functional.cross_entropy(heads[k](f).flatten(0,1),TG[k][idx].repeat_interleave(f.shape[1])) for k in keys)
    if a.pool=="maxmean": l=l+sum(torch.nn.functional.cross_entropy(heads[k](f.mean(1)),TG[k][idx]) for k in keys)
    if s>=a.switch and a.tokw>0: l=l+a.tokw*torch.nn.functional.cross_entropy(heads["emotion"](f).flatten(0,1),TG["emotion"][idx].repeat_interleave(f.shape[1]))
    if a.mlpmean>0: l=l+a.mlpmean*torch.nn.functional.cross_entropy(mmlogits(f),TG["emotion"][idx])
    l.backward(); torch.nn.utils.clip_grad_norm_(vp,1.0); vopt.step(); vs.step(); vopt.zero_grad()
    if (s+1)%a.every==0:
        if a.targets=="emotion":
            with torch.no_grad(): va=(heads["emotion"](feats(te[0],te[1]).amax(1)).argmax(-1)==torch.tensor(te[2])).float().mean().item()
        else: va=float("nan")
        with torch.no_grad(): ff=feats(te[0],te[1]); ta=(heads["emotion"](ff).argmax(-1)==torch.tensor(te[2])[:,None]).float().mean().item(); ma=(heads["emotion"](torch.nn.functional.rms_norm(ff,(ff.shape[-1],)).mean(1)).argmax(-1)==torch.tensor(te[2])).float().mean().item()
        mma=(mmlogits(ff).argmax(-1)==torch.tensor(te[2])).float().mean().item() if a.mlpmean>0 else 0.0
        print("vpre",s+1,"mlpmean",round(mma,3),round(l.item(),3),"t",round(time.time()-t0,1),"vacc",round(va,3),"tokacc",round(ta,3),"meanacc",round(ma,3),flush=True)
if a.save_vis: torch.save({"vis":vis.state_dict(),"heads":heads.state_dict()},a.save_vis)
if a.load_vis:
    _sd=torch.load(a.load_vis)
    if "vis" in _sd: vis.load_state_dict(_sd["vis"]); heads.load_state_dict(_sd["heads"])
    else: vis.load_state_dict(_sd)
if a.qk!=1.0:
    with torch.no_grad():
        for n_,mod in model.named_modules():
            if n_.endswith("self_attn.q_proj") or n_.endswith("self_attn.k_proj"): mod.weight*=a.qk
# LLM phase
if a.prompt=="short": msgs=[{"role":"user","content":[{"type":"image"},{"type":"text","text":"Emotion?"}]}]
else: msgs=chat_messages(None,fer_question(list(emos)))
prompt=proc.apply_chat_template(msgs,add_generation_prompt=True,tokenize=False)
from PIL import Image
e=proc(text=[prompt],images=[draw_face("neutral",0,a.px)],return_tensors="pt")
P=e["input_ids"][0]; MM=e["mm_token_type_ids"][0]; print("prompt tokens",len(P),"img tokens",int(MM.sum()),flush=True)
first=[tok(f"<answer>{x}</answer><|im_end|>",add_special_tokens=False)["input_ids"] for x in emos]
k=0
while len({tuple(f[:k+1]) for f in first})==1: k+=1
prefix=first[0][:k]; labids=torch.tensor([f[k] for f in first])
pad=tok.convert_tokens_to_ids("<|endoftext|>")
def batch(idx):
    rs=[first[tr[2][i]] for i in idx]
    L=len(P)+max(len(r) for r in rs); ids=torch.full((len(idx),L),pad); lab=torch.full((len(idx),L),-100); am=torch.zeros((len(idx),L),dtype=torch.long)
    for j,r in enumerate(rs):
        n=len(P)+len(r); ids[j,:len(P)]=P; ids[j,len(P):n]=torch.tensor(r); am[j,:n]=1; lab[j,len(P):n]=torch.tensor(r)
    mm=torch.zeros_like(ids); mm[:,:len(P)]=MM
    return ids,am,mm,lab
vis_params=[p for n_,p in vis.named_parameters() if not (a.merger and n_.startswith("merger"))]; vid={id(p) for p in vis_params}
other=[p for p in model.parameters() if id(p) not in vid]
groups=[{"params":other,"lr":a.lr}]
if a.tmult>0: groups.append({"params":vis_params,"lr":a.lr*a.tmult})
else:
    for p in vis_params: p.requires_grad_(False)
opt=torch.optim.AdamW(groups,weight_decay=0.0,betas=(0.9,0.95))
sched=torch.optim.lr_scheduler.LambdaLR(opt,lambda s:min(1,(s+1)/a.lwarm)*0.5*(1+math.cos(math.pi*min(s,a.lsteps)/max(1,a.lsteps))))
def acc():
    model.eval(); n=len(te[2]); ext=torch.tensor(prefix)
    ids=torch.cat([P,ext]); mm=torch.cat([MM,torch.zeros_like(ext)]); pc=[0]*len(emos); tot=[0]*len(emos)
    with torch.no_grad():
        for s in range(0,n,100):
            b=min(100,n-s); lg=model(input_ids=ids.repeat(b,1),attention_mask=torch.ones(b,len(ids),dtype=torch.long),mm_token_type_ids=mm.repeat(b,1),
                    pixel_values=te[0][s:s+b].reshape(-1,te[0].shape[-1]),image_grid_thw=te[1].repeat(b,1)).logits[:,-1]
            for p,y in zip(lg[:,labids].argmax(-1).tolist(),te[2][s:s+b]): tot[y]+=1; pc[y]+=int(p==y)
    model.train(); return round(sum(pc)/n,3),[round(x/max(t,1),2) for x,t in zip(pc,tot)]
cap={}
vis.register_forward_hook(lambda m,i,o: cap.__setitem__("f",o.pooler_output))
if a.aux>0: groups[0]["params"]=groups[0]["params"]+list(heads.parameters())
Yall=torch.tensor(tr[2])
t0=time.time(); g=torch.Generator().manual_seed(0)
for step in range(a.lsteps):
    idx=torch.randint(0,a.ntrain,(a.bs,),generator=g).tolist()
    ids,am,mm,lab=batch(idx)
    out=model(input_ids=ids,attention_mask=am,mm_token_type_ids=mm,pixel_values=tr[0][idx].reshape(-1,tr[0].shape[-1]),image_grid_thw=tr[1].repeat(len(idx),1))
    lg=out.logits[:,:-1].float(); t=lab[:,1:]
    loss=torch.nn.functional.cross_entropy(lg.reshape(-1,lg.shape[-1]),t.reshape(-1),ignore_index=-100)
    if a.aux>0: loss=loss+a.aux*torch.nn.functional.cross_entropy(heads["emotion"](cap["f"].view(len(idx),-1,a.hid).amax(1)),Yall[idx])
    loss.backward(); torch.nn.utils.clip_grad_norm_([p for gr in groups for p in gr["params"]],1.0); opt.step(); sched.step(); opt.zero_grad()
    if (step+1)%50==0 or step==0: print(step+1,round(loss.item(),3),"t",round(time.time()-t0,1),"acc",*acc(),flush=True)
