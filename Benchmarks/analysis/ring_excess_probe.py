#!/usr/bin/env python3
"""Offline probe (never part of the product): a 'superposition excess' feature at each reported candidate.

Radiographs add attenuation: where two ribs (or vessels) cross, the centre is about the sum of the
arms' levels. On a ring at k x the measured radius (64 angles, the working image at 0.7 mm/px smoothed
by R/4), the antipodal means above the ring's minimum show the lines that pass through; the two
largest peaks predict the centre's level if the candidate were only crossing lines. excess =
(centre - ring minimum - those two peaks) / (centre - ring minimum): about 1 for a nodule off
anatomy, about 0 for a crossing. Also 'flat' = ring SD / amplitude.

Usage (from the repository root): python3 Benchmarks/analysis/ring_excess_probe.py RESULTS_DIR OUT.json
where RESULTS_DIR holds, for each set in SETS below, `nodules detect SET/images/* --out RESULTS_DIR/NAME.jsonl`
(NAME as in SETS: eval, eval3030, eval4040, phantom-b_eval11, ...).
Writes one row per reported candidate (set, image, score, hit, true diameter, features).
Result (2026-12-05): Benchmarks/recorded/2026-12-05-session17-remeasurement.txt section 11.
"""
import json, math, sys, os
W = 0.7
SETS = [('ours-eval','Data/phantom/eval','eval'),('ours-3030','Data/phantom/eval3030','eval3030'),
        ('ours-4040','Data/phantom/eval4040','eval4040'),('B','Data/phantom-b/eval11','phantom-b_eval11'),
        ('C','Data/phantom-c/eval12','phantom-c_eval12'),('D','Data/phantom-d/eval13','phantom-d_eval13'),
        ('E','Data/phantom-e/eval14','phantom-e_eval14'),('F','Data/phantom-f/eval16','phantom-f_eval16')]
import numpy as np, cv2
from scipy import ndimage
from multiprocessing import Pool
def work(args):
  name,setdir,rec,ti=args
  a=cv2.imread(os.path.join(setdir,ti['path']),cv2.IMREAD_UNCHANGED).astype(np.float32)
  sp=rec['pixel_spacing_mm'] or 0.175; f=sp/W
  w=cv2.resize(a,(max(1,int(a.shape[1]*f)),max(1,int(a.shape[0]*f))),interpolation=cv2.INTER_AREA)
  lo,hi=np.percentile(w,[1,99]); w=(w-lo)/(hi-lo+1e-6)
  out=[]; cache={}
  ang=np.linspace(0,2*np.pi,64,endpoint=False)
  for m in rec['nodules']:
    R=m['diameter_mm']/2/W
    ss=max(1.0,round(R/4,1))
    if ss not in cache: cache[ss]=ndimage.gaussian_filter(w,ss)
    g=cache[ss]
    cx,cy=m['x']*f,m['y']*f
    def samp(rad):
      xs=cx+rad*np.cos(ang); ys=cy+rad*np.sin(ang)
      return ndimage.map_coordinates(g,[ys,xs],order=1,mode='nearest')
    c=float(ndimage.map_coordinates(g,[[cy],[cx]],order=1)[0])
    feats={}
    for k in (1.5,2.0):
      ring=samp(k*R)
      base=float(np.min(ring))
      pair=(ring[:32]+ring[32:])/2-base            # antipodal mean above the ring's minimum
      # local maxima of the circular pair profile (period 32)
      pk=[pair[i] for i in range(32) if pair[i]>=pair[(i-1)%32] and pair[i]>=pair[(i+1)%32]]
      pk=sorted(pk,reverse=True)
      lines=sum(pk[:2]) if pk else 0.0
      amp=c-base
      feats[f'excess{k}']=(amp-lines)/amp if amp>1e-6 else 0.0
      feats[f'flat{k}']=float(np.std(ring))/amp if amp>1e-6 else 9.0
    hit=any(math.hypot(m['x']-n['x'],m['y']-n['y'])*ti['pixel_spacing_mm']<=max(n['diameter_mm']/2,4) for n in ti['nodules'])
    big=[n for n in ti['nodules'] if math.hypot(m['x']-n['x'],m['y']-n['y'])*ti['pixel_spacing_mm']<=max(n['diameter_mm']/2,4)]
    out.append(dict(set=name,image=ti['path'],score=m['score'],hit=hit,dtrue=max([n['diameter_mm'] for n in big],default=None),**feats))
  return out
if __name__=='__main__':
  jobs=[]
  for name,setdir,pre in SETS:
    pre=os.path.join(sys.argv[1],pre)
    truth=json.load(open(setdir+'/truth.json')); T={i['path'].split('/')[-1]:i for i in truth['images']}
    for l in open(pre+'.jsonl'):
      r=json.loads(l); jobs.append((name,setdir,r,T[r['path'].split('/')[-1]]))
  with Pool(2) as p: res=p.map(work,jobs,chunksize=4)
  rows=[x for r in res for x in r]
  json.dump(rows,open(sys.argv[2],'w')); print(len(rows))
