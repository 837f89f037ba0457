"""Named text filters (`--text-filter`): what is removed from every text, in training, evaluation and serving.

Each is a regular expression (RE2, as TensorFlow's `tf.strings.regex_replace` reads it) that
`text.filter_texts` replaces by a space, inside the exported model and on the training texts alike,
after jieba segmentation (whose spaces the patterns allow for). Their names are `config.TEXT_FILTERS`, the flag's
choices.
"""

PATTERNS = {
    # Weibo's bracketed emoticons, [哈哈] or [good] (after jieba: [ 哈哈 ]). The weibo_senti_100k labels were
    # derived from them, and every row of the sample holds one: a model that reads them learns little else.
    "emoticons": r"\[[^\[\]]{1,20}\]",
    # HTML tags, such as the `<br />` line breaks in IMDB reviews. The from-scratch models' English standardizer
    # drops them already; a pretrained encoder's tokenizer would spend four subword tokens on each.
    "html": r"</?[A-Za-z][^<>]{0,200}>",
}
