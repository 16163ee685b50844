"""dynmask-viz: see, measure and use masking in Transformers.

Two meanings of "masking", taught side by side:

* MLM input masking, static vs dynamic (RoBERTa section 4.1): :mod:`dynmask_viz.masking`.
* Attention masks (which key each query may attend to): :mod:`dynmask_viz.attention_masks`.

Boolean mask convention used everywhere in this package: ``True`` means *may attend*
(attention masks) or *is selected for MLM prediction* (MLM masks). Additive masks use
``torch.finfo(dtype).min`` for blocked positions.
"""

__version__ = "0.1.0"
