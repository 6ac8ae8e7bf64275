#!/usr/bin/env python3
"""Does a bright arm leaving a candidate separate rib ends and crossings from nodules? (offline, never part of the product)

Usage: arm_descriptor.py SET_DIR RESULTS.jsonl

For every reported candidate: the image smoothed (0.7 mm), 24 rays sampled from 1.3 to 2.3 candidate radii; `arm` is
(brightest ray - median ray) / (centre - median ray), `onesided` the brightest ray minus its opposite over the same
contrast. Prints the area under the ROC curve of each (lower = nodule) and of the score, over all candidates and over the
top quarter by score. Labels: the evaluation's hit rule (within max(true radius, 4 mm)).
"""
import json
import math
import os
import sys

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

setdir, results = sys.argv[1:3]
truth = json.load(open(setdir + '/truth.json'))
recs = {}
for line in open(results):
    r = json.loads(line); recs[os.path.basename(r['path'])] = r
feats, labels, scores = [], [], []
for im in truth['images']:
    r = recs.get(os.path.basename(im['path']))
    if not r: continue
    img = cv2.imread(setdir + '/' + im['path'], -1).astype(np.float32)
    sp = im['pixel_spacing_mm']
    img = cv2.GaussianBlur(img, (0, 0), 0.7 / sp)
    for c in r['nodules']:
        R = c['diameter_px'] / 2
        hit = any(math.hypot(c['x']-n['x'], c['y']-n['y'])*sp <= max(n['diameter_mm']/2, 4) for n in im['nodules'])
        def at(x, y):
            xi, yi = int(round(x)), int(round(y))
            return img[min(max(yi,0),img.shape[0]-1), min(max(xi,0),img.shape[1]-1)]
        centre = at(c['x'], c['y'])
        rays = []
        for k in range(24):
            th = 2*math.pi*k/24
            vals = [at(c['x']+t*R*math.cos(th), c['y']+t*R*math.sin(th)) for t in np.linspace(1.3, 2.3, 6)]
            rays.append(np.mean(vals))
        rays = np.array(rays); bg = np.median(rays)
        contrast = max(centre - bg, 1e-3)
        arm = (rays.max() - bg) / contrast
        # strongest arm vs its opposite (one-sided continuation)
        k = int(rays.argmax()); opp = rays[(k+12) % 24]
        onesided = (rays.max() - opp) / contrast
        feats.append((arm, onesided)); labels.append(int(hit)); scores.append(c['score'])
feats = np.array(feats); labels = np.array(labels)
print('candidates', len(labels), 'hits', labels.sum())
print('AUC (nodule vs not) of -arm %.3f, -onesided %.3f, score %.3f' % (roc_auc_score(labels, -feats[:,0]), roc_auc_score(labels, -feats[:,1]), roc_auc_score(labels, scores)))
top = np.argsort(-np.array(scores))[:len(labels)//4]
print('among the top quarter by score: AUC -arm %.3f, -onesided %.3f, score %.3f' % (roc_auc_score(labels[top], -feats[top,0]), roc_auc_score(labels[top], -feats[top,1]), roc_auc_score(labels[top], np.array(scores)[top])))
