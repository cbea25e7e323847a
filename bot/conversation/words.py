"""The words around the trees' texts (headings, evidence, notices), in the trees' locales.

Every surface shows the same words, so they live here once, as data: a fifth language is one
more column, and a word missing in a locale falls back to English rather than to a key.
"""

from __future__ import annotations

from bot.trees.locales import DEFAULT_LOCALE

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "steps": "What to do",
        "evidence": "Evidence",
        "path": "Path",
        "narrow": "To narrow it down",
        "server_said": "server said",
        "earlier_events": "earlier events",
        "more": "more answers not shown",
        "partial": "Some delivery records could not be checked just now; ask again later.",
        "not_linked": "I can only look things up for the account this conversation belongs to, "
        "and I cannot tell which one that is here. Please ask in your shared support channel, "
        "or ask your contact to link this channel.",
        "nothing_found": "I found no address or dispatch id to look up.",
        "no_failed_recipient": "I could not find a failed recipient in that email.",
        "bounce_says": "This bounce email says",
        "hard_bounce": "hard bounce",
        "soft_bounce": "soft bounce",
        "bounce": "bounce",
        "more_recipients": "more recipients",
        "bounce_cut_size": "Only the first {read} of this email were read (it is {total}).",
        "bounce_cut_headers": "Its headers fill the first {read}, so its body was not read.",
        "bounce_cut_parts": "Only its first {read} MIME parts were read.",
        "bounce_cut_depth": "Parts nested more than {read} levels deep were not read.",
        "bounce_cut_forwards": "Not every message forwarded inside it was read (the limit is "
        "{read} levels).",
        "bounce_cut_recipients": "{read} of the {total} failed recipients it lists are answered "
        "here.",
        "bounce_cut_unreadable": "Its MIME structure could not be read.",
        "dns_inconclusive": "inconclusive ({cause})",
        "dns_no_answer": "no answer",
        "dns_nxdomain": "the domain does not exist (NXDOMAIN)",
        "dns_null_mx": "null MX: accepts no mail",
        "dns_mx": "MX {hosts}",
        "dns_implicit_mx": "no MX; mail goes to its A/AAAA address",
        "dns_no_mail": "no MX and no address: accepts no mail",
    },
    "nb": {
        "steps": "Hva du kan gjøre",
        "evidence": "Grunnlag",
        "path": "Sti",
        "narrow": "For å finne ut mer",
        "server_said": "serveren svarte",
        "earlier_events": "tidligere hendelser",
        "more": "flere svar vises ikke",
        "partial": "Noen leveringsopplysninger kunne ikke sjekkes akkurat nå; spør igjen senere.",
        "not_linked": "Jeg kan bare slå opp for kontoen denne samtalen hører til, og her ser jeg "
        "ikke hvilken det er. Spør i den delte kundestøttekanalen, eller be kontaktpersonen "
        "din om å koble denne kanalen til kontoen.",
        "nothing_found": "Jeg fant ingen e-postadresse eller utsendelses-ID å slå opp.",
        "no_failed_recipient": "Jeg fant ingen mottaker som feilet i den e-posten.",
        "bounce_says": "Denne returmeldingen sier",
        "hard_bounce": "permanent avvisning",
        "soft_bounce": "midlertidig avvisning",
        "bounce": "avvisning",
        "more_recipients": "flere mottakere",
        "bounce_cut_size": "Bare de første {read} av denne e-posten ble lest (den er på {total}).",
        "bounce_cut_headers": "Hodefeltene fyller de første {read}, så selve meldingen ble ikke "
        "lest.",
        "bounce_cut_parts": "Bare de første {read} MIME-delene ble lest.",
        "bounce_cut_depth": "Deler som ligger mer enn {read} nivåer inne, ble ikke lest.",
        "bounce_cut_forwards": "Ikke alle videresendte meldinger inni den ble lest (grensen er "
        "{read} nivåer).",
        "bounce_cut_recipients": "Her besvares {read} av de {total} mottakerne som feilet.",
        "bounce_cut_unreadable": "MIME-strukturen kunne ikke leses.",
        "dns_inconclusive": "uavklart ({cause})",
        "dns_no_answer": "ingen svar",
        "dns_nxdomain": "domenet finnes ikke (NXDOMAIN)",
        "dns_null_mx": "null-MX: tar ikke imot e-post",
        "dns_mx": "MX {hosts}",
        "dns_implicit_mx": "ingen MX; e-post går til A/AAAA-adressen",
        "dns_no_mail": "ingen MX og ingen adresse: tar ikke imot e-post",
    },
    "nl": {
        "steps": "Wat je kunt doen",
        "evidence": "Onderbouwing",
        "path": "Pad",
        "narrow": "Om het te bepalen",
        "server_said": "de server antwoordde",
        "earlier_events": "eerdere meldingen",
        "more": "meer antwoorden niet getoond",
        "partial": "Sommige bezorggegevens konden nu niet worden gecontroleerd; vraag het later.",
        "not_linked": "Ik kan alleen opzoeken voor het account waar dit gesprek bij hoort, en "
        "hier kan ik niet zien welk account dat is. Stel je vraag in je gedeelde "
        "supportkanaal, of vraag je contactpersoon dit kanaal te koppelen.",
        "nothing_found": "Ik vond geen e-mailadres of verzend-ID om op te zoeken.",
        "no_failed_recipient": "Ik vond geen mislukte ontvanger in die e-mail.",
        "bounce_says": "Deze bouncemelding zegt",
        "hard_bounce": "harde bounce",
        "soft_bounce": "zachte bounce",
        "bounce": "bounce",
        "more_recipients": "meer ontvangers",
        "bounce_cut_size": "Alleen de eerste {read} van deze e-mail zijn gelezen (hij is {total}).",
        "bounce_cut_headers": "De headers vullen de eerste {read}, dus het bericht zelf is niet "
        "gelezen.",
        "bounce_cut_parts": "Alleen de eerste {read} MIME-delen zijn gelezen.",
        "bounce_cut_depth": "Delen die meer dan {read} niveaus diep zitten, zijn niet gelezen.",
        "bounce_cut_forwards": "Niet alle doorgestuurde berichten erin zijn gelezen (de grens is "
        "{read} niveaus).",
        "bounce_cut_recipients": "Hier worden {read} van de {total} mislukte ontvangers "
        "beantwoord.",
        "bounce_cut_unreadable": "De MIME-structuur kon niet worden gelezen.",
        "dns_inconclusive": "onbeslist ({cause})",
        "dns_no_answer": "geen antwoord",
        "dns_nxdomain": "het domein bestaat niet (NXDOMAIN)",
        "dns_null_mx": "null-MX: neemt geen e-mail aan",
        "dns_mx": "MX {hosts}",
        "dns_implicit_mx": "geen MX; e-mail gaat naar het A/AAAA-adres",
        "dns_no_mail": "geen MX en geen adres: neemt geen e-mail aan",
    },
    "pt-BR": {
        "steps": "O que fazer",
        "evidence": "Evidências",
        "path": "Caminho",
        "narrow": "Para saber mais",
        "server_said": "o servidor respondeu",
        "earlier_events": "eventos anteriores",
        "more": "outras respostas não exibidas",
        "partial": "Alguns registros de entrega não puderam ser consultados; tente mais tarde.",
        "not_linked": "Só posso consultar a conta a que esta conversa pertence, e aqui não "
        "consigo saber qual é. Pergunte no canal de suporte compartilhado ou peça ao seu "
        "contato que vincule este canal.",
        "nothing_found": "Não encontrei nenhum endereço de e-mail nem ID de envio para consultar.",
        "no_failed_recipient": "Não encontrei nenhum destinatário com falha nesse e-mail.",
        "bounce_says": "Esta mensagem de devolução diz",
        "hard_bounce": "devolução permanente",
        "soft_bounce": "devolução temporária",
        "bounce": "devolução",
        "more_recipients": "outros destinatários",
        "bounce_cut_size": "Só os primeiros {read} deste e-mail foram lidos (ele tem {total}).",
        "bounce_cut_headers": "Os cabeçalhos ocupam os primeiros {read}, então o corpo não foi "
        "lido.",
        "bounce_cut_parts": "Só as primeiras {read} partes MIME foram lidas.",
        "bounce_cut_depth": "Partes aninhadas a mais de {read} níveis não foram lidas.",
        "bounce_cut_forwards": "Nem todas as mensagens encaminhadas dentro dele foram lidas (o "
        "limite é {read} níveis).",
        "bounce_cut_recipients": "Aqui são respondidos {read} dos {total} destinatários com falha.",
        "bounce_cut_unreadable": "Não foi possível ler a estrutura MIME.",
        "dns_inconclusive": "inconclusivo ({cause})",
        "dns_no_answer": "sem resposta",
        "dns_nxdomain": "o domínio não existe (NXDOMAIN)",
        "dns_null_mx": "MX nulo: não recebe e-mail",
        "dns_mx": "MX {hosts}",
        "dns_implicit_mx": "sem MX; o e-mail vai para o endereço A/AAAA",
        "dns_no_mail": "sem MX e sem endereço: não recebe e-mail",
    },
}

LOCALES = tuple(_WORDS)


def word(locale: str, key: str, **values: str) -> str:
    """`key` in `locale` (English where that locale lacks it), with `values` filled in."""
    text = _WORDS.get(locale, {}).get(key) or _WORDS[DEFAULT_LOCALE][key]
    return text.format(**values) if values else text
