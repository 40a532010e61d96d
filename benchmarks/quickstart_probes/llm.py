"""Full Qwen2.5-VL tiny model from scratch on SynFER. Cached pixel values, fixed prompt ids; label-token scoring eval."""
import sys, time, math, random, argparse, torch
torch.set_num_threads(1)
import unifer.testing as T
ap=argparse.ArgumentParser()
ap.add_argument("--px",type=int,default=112); ap.add_argument("--patch",type=int,default=14)
ap.add_argument("--hid",type=int,default=128); ap.add_argument("--layers",type=int,default=2)
ap.add_argument("--depth",type=int,default=3); ap.add_argument("--vhid",type=int,default=128)
ap.add_argument("--lr",type=float,default=1e-3); ap.add_argument("--vlr",type=float,default=1.0)
ap.add_argument("--steps",type=int,default=400); ap.add_argument("--bs",type=int,default=32)
ap.add_argument("--ntrain",type=int,default=4000); ap.add_argument("--ncls",type=int,default=8)
ap.add_argument("--prompt",default="short"); ap.add_argument("--loss",default="label")  # label|answer|caption
ap.add_argument("--labw",type=float,default=1.0); ap.add_argument("--eval_every",type=int,default=100)
ap.add_argument("--init",type=float,default=0.02); ap.add_argument("--fullatt",type=int,default=1)
ap.add_argument("--qk",type=float,default=1.0); ap.add_argument("--vpre",type=int,default=0); ap.add_argument("--vprelr",type=float,default=1e-3); ap.add_argument("--warm",type=int,default=30); ap.add_argument("--save",default="")
a=ap.parse_args(); print(vars(a),flush=True)
T.PATCH_SIZE=a.patch
from transformers import Qwen2_5_VLForConditionalGeneration
from unifer.data.synfer import SYNFER_EMOTIONS, draw_face, item_seed, describe
from unifer.prompts import chat_messages, fer_question
torch.manual_seed(0)
emos=SYNFER_EMOTIONS[:a.ncls]
tok=T.build_tokenizer(); m=2*a.patch; proc=T.build_processor(tok,min_pixels=m*m,max_pixels=a.px*a.px)
over=dict(hidden_size=a.hid,num_hidden_layers=a.layers,vision_hidden_size=a.vhid,vision_num_heads=4,vision_intermediate_size=2*a.vhid,
          vision_depth=a.depth,initializer_range=a.init,intermediate_size=2*a.hid)
if a.fullatt: over["fullatt_block_indexes"]=list(range(a.depth))
cfg=T.tiny_config(tok,**over); model=Qwen2_5_VLForConditionalGeneration(cfg)
if a.qk!=1.0:
    with torch.no_grad():
        for n_,mod in model.named_modules():
            if n_.endswith("attn.qkv"): d=mod.weight.shape[0]//3; mod.weight[:2*d]*=a.qk
            if n_.endswith("self_attn.q_proj") or n_.endswith("self_attn.k_proj"): mod.weight*=a.qk
print("params",sum(p.numel() for p in model.parameters()),"vision",sum(p.numel() for p in model.model.visual.parameters()))
if a.prompt=="short": msgs=[{"role":"user","content":[{"type":"image"},{"type":"text","text":"Emotion?"}]}]
else: msgs=chat_messages(None,fer_question(list(emos)))
prompt=proc.apply_chat_template(msgs,add_generation_prompt=True,tokenize=False)
t0=time.time()
def build(seed,n):
    ys=[i%len(emos) for i in range(n)]; sd=[item_seed(seed,i) for i in range(n)]
    ims=[draw_face(emos[y],s,size=a.px) for y,s in zip(ys,sd)]
    o=proc.image_processor(images=ims,return_tensors="pt"); pv=o["pixel_values"]
    return pv.view(n,-1,pv.shape[-1]),o["image_grid_thw"][:1],ys,sd
tr=build(0,a.ntrain); te=build(1,400)
e=proc(text=[prompt],images=[draw_face("neutral",0,a.px)],return_tensors="pt")
P=e["input_ids"][0]; MM=e["mm_token_type_ids"][0]; print("data",round(time.time()-t0,1),"prompt tokens",len(P),"img tokens",int(MM.sum()),flush=True)
first=[tok(f"<answer>{x}",add_special_tokens=False)["input_ids"] for x in emos]
k=0
while len({tuple(f[:k+1]) for f in first})==1: k+=1
prefix=first[0][:k]; labids=torch.tensor([f[k] for f in first])
def resp(y,s):
    if a.loss=="caption": return f"<think>{describe(emos[y],s)}</think><answer>{emos[y]}</answer><|im_end|>"
    return f"<answer>{emos[y]}</answer><|im_end|>"
pad=tok.convert_tokens_to_ids("<|endoftext|>")
def batch(idx):
    rs=[tok(resp(tr[2][i],tr[3][i]),add_special_tokens=False)["input_ids"] for i in idx]
    L=len(P)+max(len(r) for r in rs); ids=torch.full((len(idx),L),pad); lab=torch.full((len(idx),L),-100); am=torch.zeros((len(idx),L),dtype=torch.long)
    w=torch.ones((len(idx),L))
    for j,r in enumerate(rs):
        n=len(P)+len(r); ids[j,:len(P)]=P; ids[j,len(P):n]=torch.tensor(r); am[j,:n]=1; lab[j,len(P):n]=torch.tensor(r)
        # label-distinguishing token position: find the emotion token after "<answer>"
        if a.loss=="label":
            keep=torch.full((L,),-100); pos=n-len(r)+len(r)-len(tok(f"{emos[tr[2][i]]}</answer><|im_end|>",add_special_tokens=False)["input_ids"]) if False else None
    mm=torch.zeros_like(ids); mm[:,:len(P)]=MM
    return ids,am,mm,lab
def label_only(ids,lab,idx):
    # keep only position holding the class token (first token where answers differ)
    out=torch.full_like(lab,-100)
    for j,i in enumerate(idx):
        r=tok(resp(tr[2][i],tr[3][i]),add_special_tokens=False)["input_ids"]
        # find prefix occurrence at the end of response
        for p in range(len(P),ids.shape[1]-len(prefix)):
            if ids[j,p:p+len(prefix)].tolist()==prefix and ids[j,p+len(prefix)].item()==labids[tr[2][i]].item():
                out[j,p+len(prefix)]=ids[j,p+len(prefix)]
    return out
vis=model.model.visual
if a.vpre:
    vhead=torch.nn.Linear(a.hid,len(emos)); vp=list(vis.parameters())+list(vhead.parameters())
    vopt=torch.optim.AdamW(vp,lr=a.vprelr,weight_decay=0.0,betas=(0.9,0.95))
    vs=torch.optim.lr_scheduler.LambdaLR(vopt,lambda s:min(1,(s+1)/30)*0.5*(1+math.cos(math.pi*min(s,a.vpre)/a.vpre)))
    gv=torch.Generator().manual_seed(1); t0=time.time(); Y=torch.tensor(tr[2])
    for s in range(a.vpre):
        idx=torch.randint(0,a.ntrain,(a.bs,),generator=gv)
        f=vis(tr[0][idx].reshape(-1,tr[0].shape[-1]),grid_thw=tr[1].repeat(a.bs,1)).pooler_output.view(a.bs,-1,a.hid)
        l=torch.nn.functional.cross_entropy(vhead(f.amax(1)),Y[idx]); l.backward(); torch.nn.utils.clip_grad_norm_(vp,1.0); vopt.step(); vs.step(); vopt.zero_grad()
        if (s+1)%100==0:
            with torch.no_grad():
                f=vis(te[0].reshape(-1,te[0].shape[-1]),grid_thw=te[1].repeat(len(te[2]),1)).pooler_output.view(len(te[2]),-1,a.hid)
                va=(vhead(f.amax(1)).argmax(-1)==torch.tensor(te[2])).float().mean().item()
            print("vpre",s+1,round(l.item(),3),"t",round(time.time()-t0,1),"vacc",round(va,3),flush=True)
vis_params=list(model.model.visual.parameters()); vid={id(p) for p in vis_params}
other=[p for p in model.parameters() if id(p) not in vid]
opt=torch.optim.AdamW([{"params":other,"lr":a.lr},{"params":vis_params,"lr":a.lr*a.vlr}],weight_decay=0.0,betas=(0.9,0.95))
sched=torch.optim.lr_scheduler.LambdaLR(opt,lambda s:min(1,(s+1)/a.warm)*0.5*(1+math.cos(math.pi*min(s,a.steps)/a.steps)))
def acc():
    model.eval(); c=0; n=len(te[2]); ext=torch.tensor(prefix)
    ids=torch.cat([P,ext]); mm=torch.cat([MM,torch.zeros_like(ext)])
    pc=[0]*len(emos); tot=[0]*len(emos)
    with torch.no_grad():
        for s in range(0,n,100):
            b=min(100,n-s); lg=model(input_ids=ids.repeat(b,1),attention_mask=torch.ones(b,len(ids),dtype=torch.long),mm_token_type_ids=mm.repeat(b,1),
                    pixel_values=te[0][s:s+b].reshape(-1,te[0].shape[-1]),image_grid_thw=te[1].repeat(b,1)).logits[:,-1]
            pr=lg[:,labids].argmax(-1).tolist()
            for p,y in zip(pr,te[2][s:s+b]): tot[y]+=1; pc[y]+=int(p==y)
    model.train(); return round(sum(pc)/n,3),[round(x/max(t,1),2) for x,t in zip(pc,tot)]
t0=time.time(); g=torch.Generator().manual_seed(0)
for step in range(a.steps):
    idx=torch.randint(0,a.ntrain,(a.bs,),generator=g).tolist()
    ids,am,mm,lab=batch(idx)
    if a.loss=="label": lab=label_only(ids,lab,idx)
    out=model(input_ids=ids,attention_mask=am,mm_token_type_ids=mm,pixel_values=tr[0][idx].reshape(-1,tr[0].shape[-1]),image_grid_thw=tr[1].repeat(len(idx),1))
    lg=out.logits[:,:-1].float(); tg=lab[:,1:]
    lt=torch.nn.functional.cross_entropy(lg.reshape(-1,lg.shape[-1]),tg.reshape(-1),ignore_index=-100,reduction="none").view(tg.shape)
    w=(tg!=-100).float()
    if a.labw!=1.0 and a.loss!="label":
        lo=label_only(ids,lab,idx)[:,1:]; w=w+(a.labw-1)*(lo!=-100).float()
    loss=(lt*w).sum()/w.sum()
    loss.backward(); gn=torch.nn.utils.clip_grad_norm_(model.parameters(),1.0); opt.step(); sched.step(); opt.zero_grad()
    if (step+1)%a.eval_every==0 or step==0: print(step+1,round(loss.item(),3),"gn",round(gn.item(),2),"t",round(time.time()-t0,1),"acc",*acc(),flush=True)
if a.save: torch.save(model.state_dict(),a.save)
