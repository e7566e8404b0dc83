"""The voicemail service's spoken prompts: their words in French, Dutch and English, and how sentences are
put together from them ("you have" + "3" + "new messages").

The audio files are ours: `scripts/make_prompts.py` speaks these texts with espeak-ng into 8 kHz µ-law WAV
files under `voicemail/audio/<language>/<name>.wav` (shipped in the package) and writes the beep (1 kHz). This
module only names them; it knows nothing of media engines, calls or storage.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Final, Literal

Language = Literal["fr", "nl", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("fr", "nl", "en")
DEFAULT_LANGUAGE: Final[Language] = "fr"
AUDIO_DIR: Final = Path(__file__).resolve().parent / "audio"
BEEP: Final = "beep"  # language-independent: audio/beep.wav
LARGEST_NUMBER: Final = 20  # counts above it are said as "many"

TEXTS: Final[dict[str, dict[Language, str]]] = {
    "greeting_busy": {
        "fr": "Votre correspondant est en ligne. Laissez un message après le bip.",
        "nl": "Uw correspondent is in gesprek. Spreek een bericht in na de toon.",
        "en": "The person you are calling is on the phone. Please leave a message after the tone.",
    },
    "greeting_no_answer": {
        "fr": "Votre correspondant n'est pas disponible. Laissez un message après le bip.",
        "nl": "Uw correspondent is niet bereikbaar. Spreek een bericht in na de toon.",
        "en": "The person you are calling is not available. Please leave a message after the tone.",
    },
    "message_recorded": {
        "fr": "Votre message a été enregistré. Au revoir.",
        "nl": "Uw bericht werd opgenomen. Tot ziens.",
        "en": "Your message has been recorded. Goodbye.",
    },
    "enter_pin": {
        "fr": "Entrez votre code secret, suivi de dièse.",
        "nl": "Geef uw geheime code in, gevolgd door hekje.",
        "en": "Please enter your PIN, followed by the hash key.",
    },
    "pin_wrong": {"fr": "Code incorrect.", "nl": "Foute code.", "en": "Incorrect PIN."},
    "no_pin": {
        "fr": "Aucun code secret n'est défini pour cette boîte vocale. Définissez-le depuis votre propre téléphone.",
        "nl": "Voor deze voicemail is geen geheime code ingesteld. Stel ze in vanaf uw eigen toestel.",
        "en": "No PIN is set for this mailbox. Please set one from your own phone.",
    },
    "goodbye": {"fr": "Au revoir.", "nl": "Tot ziens.", "en": "Goodbye."},
    "you_have": {"fr": "Vous avez", "nl": "U heeft", "en": "You have"},
    "and": {"fr": "et", "nl": "en", "en": "and"},
    "new_message": {"fr": "nouveau message", "nl": "nieuw bericht", "en": "new message"},
    "new_messages": {"fr": "nouveaux messages", "nl": "nieuwe berichten", "en": "new messages"},
    "old_message": {"fr": "message sauvegardé", "nl": "bewaard bericht", "en": "saved message"},
    "old_messages": {"fr": "messages sauvegardés", "nl": "bewaarde berichten", "en": "saved messages"},
    "no_messages": {"fr": "Vous n'avez aucun message.", "nl": "U heeft geen berichten.",
                    "en": "You have no messages."},
    "main_menu": {
        "fr": "Pour écouter vos messages, tapez 1. Pour vos annonces d'accueil, tapez 3. "
              "Pour changer votre code secret, tapez 4. Pour terminer, tapez étoile.",
        "nl": "Om uw berichten te beluisteren, toets 1. Voor uw begroetingen, toets 3. "
              "Om uw geheime code te wijzigen, toets 4. Om te stoppen, toets sterretje.",
        "en": "To listen to your messages, press 1. For your greetings, press 3. "
              "To change your PIN, press 4. To hang up, press star.",
    },
    "message_from": {"fr": "Message de", "nl": "Bericht van", "en": "Message from"},
    "unknown_caller": {"fr": "numéro inconnu", "nl": "onbekend nummer", "en": "an unknown number"},
    "message_menu": {
        "fr": "Pour réécouter, tapez 1. Pour effacer, tapez 7. Pour sauvegarder, tapez 9. "
              "Pour le message suivant, tapez dièse.",
        "nl": "Om opnieuw te beluisteren, toets 1. Om te wissen, toets 7. Om te bewaren, toets 9. "
              "Voor het volgende bericht, toets hekje.",
        "en": "To replay, press 1. To delete, press 7. To save, press 9. For the next message, press hash.",
    },
    "message_deleted": {"fr": "Message effacé.", "nl": "Bericht gewist.", "en": "Message deleted."},
    "message_saved": {"fr": "Message sauvegardé.", "nl": "Bericht bewaard.", "en": "Message saved."},
    "no_more_messages": {"fr": "Il n'y a plus de messages.", "nl": "Er zijn geen berichten meer.",
                         "en": "There are no more messages."},
    "greetings_menu": {
        "fr": "Pour enregistrer l'annonce en cas d'occupation, tapez 1. Pour l'annonce en cas de non-réponse, "
              "tapez 2. Pour revenir aux annonces standard, tapez 3. Pour revenir au menu principal, tapez étoile.",
        "nl": "Om de begroeting bij bezet op te nemen, toets 1. Voor de begroeting bij geen antwoord, toets 2. "
              "Om terug te keren naar de standaardbegroetingen, toets 3. Voor het hoofdmenu, toets sterretje.",
        "en": "To record your busy greeting, press 1. For your no answer greeting, press 2. "
              "To go back to the standard greetings, press 3. For the main menu, press star.",
    },
    "record_greeting": {
        "fr": "Enregistrez votre annonce après le bip, puis tapez dièse.",
        "nl": "Spreek uw begroeting in na de toon en toets dan hekje.",
        "en": "Record your greeting after the tone, then press hash.",
    },
    "greeting_saved": {"fr": "Votre annonce a été enregistrée.", "nl": "Uw begroeting werd opgenomen.",
                       "en": "Your greeting has been saved."},
    "greetings_reset": {"fr": "Les annonces standard sont rétablies.",
                        "nl": "De standaardbegroetingen zijn hersteld.",
                        "en": "The standard greetings are back."},
    "enter_new_pin": {
        "fr": "Entrez votre nouveau code secret de 4 à 8 chiffres, suivi de dièse.",
        "nl": "Geef uw nieuwe geheime code van 4 tot 8 cijfers in, gevolgd door hekje.",
        "en": "Enter your new PIN of 4 to 8 digits, followed by hash.",
    },
    "pin_changed": {"fr": "Votre code secret a été changé.", "nl": "Uw geheime code werd gewijzigd.",
                    "en": "Your PIN has been changed."},
    "pin_invalid": {"fr": "Ce code n'est pas valable. Il faut 4 à 8 chiffres.",
                    "nl": "Deze code is niet geldig. Er zijn 4 tot 8 cijfers nodig.",
                    "en": "That PIN is not valid. It needs 4 to 8 digits."},
    "invalid_choice": {"fr": "Choix non valable.", "nl": "Ongeldige keuze.", "en": "Invalid choice."},
    "many": {"fr": "plus de vingt", "nl": "meer dan twintig", "en": "more than twenty"},
    # the envelope: "received today at 14 30"
    "received": {"fr": "reçu", "nl": "ontvangen", "en": "received"},
    "today": {"fr": "aujourd'hui", "nl": "vandaag", "en": "today"},
    "yesterday": {"fr": "hier", "nl": "gisteren", "en": "yesterday"},
    "on": {"fr": "le", "nl": "op", "en": "on"},
    "at": {"fr": "à", "nl": "om", "en": "at"},
    "hour": {"fr": "heure", "nl": "uur", "en": "hundred"},
    "hours": {"fr": "heures", "nl": "uur", "en": "hundred"},
    "oh": {"fr": "zéro", "nl": "nul", "en": "oh"},
}
WEEKDAYS: Final = (("lundi", "maandag", "Monday"), ("mardi", "dinsdag", "Tuesday"),
                   ("mercredi", "woensdag", "Wednesday"), ("jeudi", "donderdag", "Thursday"),
                   ("vendredi", "vrijdag", "Friday"), ("samedi", "zaterdag", "Saturday"),
                   ("dimanche", "zondag", "Sunday"))
MONTHS: Final = (("janvier", "januari", "January"), ("février", "februari", "February"), ("mars", "maart", "March"),
                 ("avril", "april", "April"), ("mai", "mei", "May"), ("juin", "juni", "June"),
                 ("juillet", "juli", "July"), ("août", "augustus", "August"),
                 ("septembre", "september", "September"), ("octobre", "oktober", "October"),
                 ("novembre", "november", "November"), ("décembre", "december", "December"))
for _k, (_fr, _nl, _en) in enumerate(WEEKDAYS):
    TEXTS[f"day{_k}"] = {"fr": _fr, "nl": _nl, "en": _en}
for _k, (_fr, _nl, _en) in enumerate(MONTHS, start=1):
    TEXTS[f"month{_k}"] = {"fr": _fr, "nl": _nl, "en": _en}
for _n in range(60):  # counts up to LARGEST_NUMBER; days of the month, hours and minutes up to 59
    TEXTS[f"n{_n}"] = {"fr": str(_n), "nl": str(_n), "en": str(_n)}


def language_of(text: str | None) -> Language:
    """The first language of an Accept-Language value we speak (`nl-BE, fr;q=0.5` -> nl), else French."""
    for part in (text or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        for language in LANGUAGES:
            if tag == language:
                return language
    return DEFAULT_LANGUAGE


def prompt_path(name: str, language: Language) -> Path:
    """The WAV file of a prompt (`beep` has one for every language)."""
    if name == BEEP:
        return AUDIO_DIR / "beep.wav"
    if name not in TEXTS:
        raise KeyError(f"no such prompt: {name!r}")
    return AUDIO_DIR / language / f"{name}.wav"


def number(count: int) -> str:
    return f"n{count}" if 0 <= count <= LARGEST_NUMBER else "many"


def digits(text: str) -> tuple[str, ...]:
    """A phone number said digit by digit (`+32 2…` -> n3 n2 n2 …); other characters are left out."""
    return tuple(f"n{ch}" for ch in text if ch.isdigit())


def envelope(received_at: float, now: float, zone: tzinfo, language: Language) -> tuple[str, ...]:
    """When a message came, in the mailbox owner's time zone: "received today at 14 30", "... yesterday ...",
    "... Monday ..." within the last week, "... on 3 December ..." before (24-hour clock; in English "14
    hundred" on the hour and "9 oh 5" for single-digit minutes)."""
    received = datetime.fromtimestamp(received_at, zone)
    days_ago = (datetime.fromtimestamp(now, zone).date() - received.date()).days
    if days_ago <= 0:
        day: tuple[str, ...] = ("today",)
    elif days_ago == 1:
        day = ("yesterday",)
    elif days_ago < 7:
        weekday = f"day{received.weekday()}"
        day = ("on", weekday) if language == "en" else (weekday,)
    else:
        day = ("on", f"n{received.day}", f"month{received.month}")
    hour, minute = f"n{received.hour}", received.minute
    if language == "en":
        clock: tuple[str, ...] = (hour, "hours") if minute == 0 else \
            (hour, "oh", f"n{minute}") if minute < 10 else (hour, f"n{minute}")
    else:
        unit = "hour" if received.hour <= 1 else "hours"
        clock = (hour, unit) if minute == 0 else (hour, unit, f"n{minute}")
    return ("received", *day, "at", *clock)


def counts_sentence(new: int, old: int) -> tuple[str, ...]:
    """"You have 2 new messages and 1 saved message", or "You have no messages"."""
    if new == 0 and old == 0:
        return ("no_messages",)
    parts: list[str] = ["you_have"]
    if new:
        parts += [number(new), "new_message" if new == 1 else "new_messages"]
    if new and old:
        parts.append("and")
    if old:
        parts += [number(old), "old_message" if old == 1 else "old_messages"]
    return tuple(parts)
