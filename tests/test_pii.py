"""PII masking (filters.pii): what is masked, what is left alone, and the counts."""

from __future__ import annotations

import pytest

from lusomix.filters.pii import mask_pii

# (text, what it must become)
MASKED = [
    # e-mail addresses, plain and written to hide from harvesters
    ("Contacte joao.silva@sapo.pt hoje.", "Contacte <EMAIL> hoje."),
    ("Escreva para maria_costa+jornal@gmail.com.", "Escreva para <EMAIL>."),
    ("geral@câmara-municipal.pt", "<EMAIL>"),
    ("info (arroba) camara-lisboa.pt", "<EMAIL>"),
    ("suporte [at] empresa.com.br", "<EMAIL>"),
    ("<a href='mailto:ana@uc.pt'>", "<a href='mailto:<EMAIL>'>"),
    # Portugal: landlines (2...), mobiles (9...), with and without +351 / 00351
    ("Ligue +351 21 123 4567 ou", "Ligue <PHONE> ou"),
    ("Tlm: 912 345 678", "Tlm: <PHONE>"),
    ("telefone 213456789.", "telefone <PHONE>."),
    ("00351 912345678", "<PHONE>"),
    ("(+351) 912 345 678", "<PHONE>"),
    ("+351 213 456 789", "<PHONE>"),
    ("+351 800 200 300", "<PHONE>"),
    ("Tel. 21 345 67 89", "Tel. <PHONE>"),
    ("tel.: 22 123 45 67 (Porto)", "tel.: <PHONE> (Porto)"),
    ("telemóvel 96-123-4567", "telemóvel <PHONE>"),
    ("+351.912.345.678", "<PHONE>"),
    # Brazil: mobiles 9xxxx-xxxx, landlines [2-5]xxx-xxxx, area code in brackets or after +55
    ("+55 11 91234-5678", "<PHONE>"),
    ("(11) 91234-5678", "<PHONE>"),
    ("(21) 3456-7890", "<PHONE>"),
    ("(021) 3456-7890", "<PHONE>"),
    ("+55 (11) 91234-5678", "<PHONE>"),
    ("+5511912345678", "<PHONE>"),
    ("0055 21 3456 7890", "<PHONE>"),
    ("Fale conosco: 11 91234-5678", "Fale conosco: <PHONE>"),
    ("tel.: 3456-7890", "tel.: <PHONE>"),
    ("celular 91234-5678", "celular <PHONE>"),
    ("WhatsApp (11) 9 1234-5678", "WhatsApp <PHONE>"),
    # other countries with their code
    ("+44 20 7946 0958", "<PHONE>"),
    ("0034 912 345 678", "<PHONE>"),
    ("+33 1 23 45 67 89", "<PHONE>"),
    # IP addresses (public ones by default)
    ("servidor 8.8.8.8 respondeu", "servidor <IP> respondeu"),
    ("o IP 193.136.1.1.", "o IP <IP>."),
    ("IPv6 2a00:1450:4003:80f::200e ok", "IPv6 <IP> ok"),
    ("endereço 2001:4860:4860::8888.", "endereço <IP>."),
]

LEFT_ALONE = [
    "Em 1990-2000 houve eleições.",
    "entre 2000-2010 e 2011-2020",
    "custa 1.234,56 € com IVA",
    "R$ 912.345.678 de orçamento",
    "o valor 912.345.678",
    "o orçamento é de 912 345 678 euros",
    "população de 210 345 678 habitantes",
    "no dia 12/03/2021 às 10:30:45",
    "1000-001 Lisboa",
    "4200-072 Porto",
    "01310-100 São Paulo",
    "CEP 20040-020, Rio de Janeiro",
    "ISBN 978-972-0-04513-2",
    "ISBN 972-0-04513-5",
    "ISBN 9789720045132",
    "versão 1.2.3.4",
    "release 10.0.2.15 do kernel",
    "router 192.168.1.1",
    "loopback 127.0.0.1 e ::1",
    "MAC 00:1a:2b:3c:4d:5e",
    "std::vector<int> e a::b",
    "página 213",
    "em 1755 e 1856",
    "pi é 3,14159265",
    "pp. 3456-3490",
    "x = 2 * 3456-7890",
    "Processo n.º 1234/21.3TBLSB",
    "contribuinte 501 234 567",
    "@jornal no Twitter",
    "nome@ sem domínio",
    "12:30, 23:59:59",
]


@pytest.mark.parametrize("text, expected", MASKED)
def test_pii_is_masked(text, expected):
    masked, counts = mask_pii(text)
    assert masked == expected
    assert sum(counts.values()) == expected.count("<") - text.count("<")


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_look_alikes_are_left_alone(text):
    assert mask_pii(text) == (text, {"email": 0, "phone": 0, "ip": 0})


def test_counts_per_kind_and_custom_tokens():
    text = "Ana: ana@sapo.pt, 912 345 678; Rui: rui@iol.pt, (21) 3456-7890; servidor 193.136.1.1."
    masked, counts = mask_pii(text, replacements={"email": "[email]"})
    assert counts == {"email": 2, "phone": 2, "ip": 1}
    assert masked == "Ana: [email], <PHONE>; Rui: [email], <PHONE>; servidor <IP>."


def test_only_the_kinds_asked_for():
    text = "ana@sapo.pt 912 345 678 8.8.8.8"
    assert mask_pii(text, kinds=["phone"]) == ("ana@sapo.pt <PHONE> 8.8.8.8", {"phone": 1})
    assert mask_pii(text, kinds=[]) == (text, {})
    with pytest.raises(ValueError, match="passport"):
        mask_pii(text, kinds=["passport"])


def test_private_addresses_masked_on_request():
    text = "router 192.168.1.1 e 10.0.0.1"
    assert mask_pii(text)[0] == text
    assert mask_pii(text, public_ips_only=False) == ("router <IP> e <IP>", {"email": 0, "phone": 0, "ip": 2})


def test_email_digits_are_not_phones():
    masked, counts = mask_pii("Contacto: 912345678@sms.operadora.pt")
    assert masked == "Contacto: <EMAIL>" and counts["phone"] == 0
