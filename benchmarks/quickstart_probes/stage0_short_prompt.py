"""Stage-0 probe: short prompt, answer-only, from scratch. Accuracy by candidate scoring of the label."""
import sys, time, math, random, torch
from transformers import Qwen2_5_VLForConditionalGeneration
from unifer.testing import build_tokenizer, build_processor, tiny_config
from unifer.data.synfer import SYNFER_EMOTIONS, draw_face, item_seed
from unifer.prompts import chat_messages
torch.manual_seed(0); torch.set_num_threads(int(sys.argv[6]) if len(sys.argv)>6 else 2)
px, steps, hid, lr, ntrain = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
emos = SYNFER_EMOTIONS[:5]
tok = build_tokenizer(); proc = build_processor(tok, min_pixels=28*28, max_pixels=px*px)
cfg = tiny_config(tok, hidden_size=hid, intermediate_size=hid*2, num_attention_heads=4, num_key_value_heads=2,
                  vision_hidden_size=hid, vision_num_heads=4, vision_intermediate_size=hid*2, vision_depth=3, num_hidden_layers=2)
model = Qwen2_5_VLForConditionalGeneration(cfg)
print("params", sum(p.numel() for p in model.parameters()))
t0=time.time()
train=[(emos[i%5], draw_face(emos[i%5], item_seed(0,i), size=px)) for i in range(ntrain)]
test=[(emos[i%5], draw_face(emos[i%5], item_seed(1,i), size=px)) for i in range(200)]
print("data", round(time.time()-t0,1), flush=True)
msgs=[{"role":"system","content":[{"type":"text","text":"FER"}]},{"role":"user","content":[{"type":"image"},{"type":"text","text":"Emotion?"}]}]
prompt = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
plen = len(proc(text=[prompt], images=[train[0][1]], return_tensors="pt")["input_ids"][0])
print("prompt tokens", plen)
proc.tokenizer.padding_side="right"
first = [proc.tokenizer(f"<answer>{e}", add_special_tokens=False)["input_ids"] for e in emos]
pre = proc.tokenizer("<answer>", add_special_tokens=False)["input_ids"]
k=0
while len({tuple(f[:k+1]) for f in first})==1: k+=1
prefix_ids = first[0][:k]; lab_ids=[f[k] for f in first]
print("label token index", k, lab_ids)
opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1,(s+1)/30)*0.5*(1+math.cos(math.pi*min(s,steps)/steps)))
def acc():
    model.eval(); c=0
    with torch.no_grad():
        for s in range(0,len(test),50):
            ch=test[s:s+50]
            proc.tokenizer.padding_side="left"
            enc=proc(text=[prompt]*len(ch), images=[im for _,im in ch], return_tensors="pt", padding=True)
            proc.tokenizer.padding_side="right"
            ext=torch.tensor([prefix_ids]*len(ch))
            enc["input_ids"]=torch.cat([enc["input_ids"], ext],1); enc["attention_mask"]=torch.cat([enc["attention_mask"], torch.ones_like(ext)],1)
            if "mm_token_type_ids" in enc: enc["mm_token_type_ids"]=torch.cat([enc["mm_token_type_ids"], torch.zeros_like(ext)],1)
            logits=model(**enc).logits[:, -1]
            ids=torch.tensor(lab_ids)
            pred=logits[:, ids].argmax(-1)
            c+=sum(emos[p]==e for p,(e,_) in zip(pred.tolist(), ch))
    model.train(); return c/len(test)
t0=time.time()
for step in range(steps):
    items=random.Random(step).sample(train, 32)
    enc=proc(text=[prompt+f"<answer>{e}</answer><|im_end|>" for e,_ in items], images=[im for _,im in items], return_tensors="pt", padding=True)
    labels=enc["input_ids"].clone(); labels[:, :plen]=-100; labels[enc["attention_mask"]==0]=-100
    loss=model(**enc, labels=labels).loss; loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); sched.step(); opt.zero_grad()
    if step%100==0 or step==steps-1: print(step, round(loss.item(),3), round(time.time()-t0,1), "acc", acc() if step%200==0 or step==steps-1 else "", flush=True)
