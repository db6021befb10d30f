"""sbert-lessons: the tested helpers behind the course's notebooks.

Each module is one concept and names the chapter that introduces it:

- ch. 0: ``profile`` (smoke/full, device, seeds), ``models`` (offline model registry), ``data`` (dataset
  registry and smoke subsets), ``cache`` (embeddings and trained models on disk), ``report`` (recorded
  figures), ``evaluation`` (STS Spearman), ``plots`` (figure style);
- ch. 0 and the methods page: ``uncertainty`` (paired bootstrap over test items, spread over seeds, the
  three verdicts every comparison ends in);
- ch. 1-2: ``embeddings`` (word vectors, analogies, sentence averages, SIF);
- ch. 3: ``timing`` (throughput, latency, pair-search extrapolation), ``training`` (cross-encoder and
  STS bi-encoder recipes, cached);
- ch. 4: ``pooling`` (mean / max / CLS / … with the attention mask);
- ch. 5: ``losses`` (training objectives from scratch), ``encoders`` (GloVe-based Siamese encoders).
- ch. 6: ``finetune`` (the library's trainers: datasets, arguments per profile, cached trainer runs,
  the tutorials' ``fit``, transfer tasks); ``training`` also holds the one recipe type and the shared
  optimizer / warm-up / step helpers of every chapter's training.
- classroom kit (teachers' guide): ``classroom`` (sandboxed grading of otter assignments, student
  edition of the book).
- ch. 7: ``search`` (exact top-k, BM25, hybrid fusion, re-ranking, FAISS indexes, quantized search,
  multi-process and Ray encoding; the shared SciFact text helpers); retrieval metrics in ``evaluation``.
- ch. 8: ``adaptation`` (SciFact train pairs with the train/test disjointness check, hard-negative mining,
  SimCSE and TSDAE data, AugSBERT silver labels, adapted models trained once and cached, a probe that
  watches TSDAE train).
- ch. 9: ``clustering`` (k-means / agglomerative on unit vectors, ARI and NMI, silhouette sweep,
  community detection and its precision against labels).
- ch. 10: ``longtext`` (token counts, the truncation proof, chunk-and-pool encoding), ``choosing`` (size on
  disk, peak memory, anisotropy and centring, cosine vs dot); ONNX encoders (``models.load_onnx``).

Modules are imported on demand so that ``import sbert_lessons`` stays fast.
"""

__version__ = "0.1.0"
