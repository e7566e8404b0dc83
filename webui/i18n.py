"""The portal's translations: French (default, as in the guide), Dutch and English.

A simple catalogue instead of gettext `.po` files: every message id is the English text, `CATALOGUE` maps it
to its French and Dutch forms, and `gettext(lang, msgid)` picks one. A unit test checks that every id used
in the templates and in `webui/*.py` is in the catalogue with both translations, so no string can appear
untranslated. The settings' validation messages come from `features.model` in English with their field
paths; `translate_problem()` turns the ones the portal's forms can produce into the user's language by
pattern (anything unknown is shown as it is).

It knows only strings: no HTTP, no model.
"""

from __future__ import annotations

import re
from typing import Final, Literal

__all__ = ["CATALOGUE", "DEFAULT_LANGUAGE", "LANGUAGES", "Language", "gettext", "pick_language",
           "translate_problem"]

Language = Literal["fr", "nl", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("fr", "nl", "en")
DEFAULT_LANGUAGE: Final[Language] = "fr"
LANGUAGE_NAMES: Final = {"fr": "français", "nl": "Nederlands", "en": "English"}

# English message id -> (French, Dutch)
CATALOGUE: Final[dict[str, tuple[str, str]]] = {
    # login, reset, session
    "Call Connect Web Portal": ("Call Connect Web Portal", "Call Connect Webportaal"),
    "Welcome to Call Connect.": ("Bienvenue chez Call Connect.", "Welkom bij Call Connect."),
    "User type": ("Type d'utilisateur", "Type gebruiker"),
    "End user": ("Utilisateur final", "Eindgebruiker"),
    "Group administrator": ("Administrateur de groupe", "Groepsbeheerder"),
    "Username": ("Nom d'utilisateur", "Gebruikersnaam"),
    "Password": ("Mot de passe", "Wachtwoord"),
    "Sign in": ("Se connecter", "Aanmelden"),
    "Sign out": ("Se déconnecter", "Afmelden"),
    "Reset password": ("Réinitialiser le mot de passe", "Wachtwoord opnieuw instellen"),
    "Wrong user name or password.": ("Nom d'utilisateur ou mot de passe incorrect.",
                                     "Verkeerde gebruikersnaam of wachtwoord."),
    "Too many attempts. Try again in a few minutes.": (
        "Trop de tentatives. Réessayez dans quelques minutes.",
        "Te veel pogingen. Probeer het over enkele minuten opnieuw."),
    "Group administrator pages are not available in this version.": (
        "Les pages d'administrateur de groupe ne sont pas disponibles dans cette version.",
        "De pagina's voor groepsbeheerders zijn in deze versie niet beschikbaar."),
    "Enter your user name: if it has an account, a link to choose a new password is sent to its e-mail "
    "address.": (
        "Introduisez votre nom d'utilisateur : s'il a un compte, un lien pour choisir un nouveau mot de passe "
        "est envoyé à son adresse e-mail.",
        "Geef uw gebruikersnaam in: als er een account bij hoort, wordt een link om een nieuw wachtwoord te "
        "kiezen naar het e-mailadres ervan gestuurd."),
    "Send the link": ("Envoyer le lien", "Link versturen"),
    "If this account exists, a link has been sent. It is valid for 30 minutes and can be used once.": (
        "Si ce compte existe, un lien a été envoyé. Il est valable 30 minutes et ne peut servir qu'une fois.",
        "Als deze account bestaat, is er een link verstuurd. Die is 30 minuten geldig en werkt maar één keer."),
    "Choose a new password": ("Choisissez un nouveau mot de passe", "Kies een nieuw wachtwoord"),
    "New password": ("Nouveau mot de passe", "Nieuw wachtwoord"),
    "Repeat the new password": ("Répétez le nouveau mot de passe", "Herhaal het nieuwe wachtwoord"),
    "The passwords differ.": ("Les mots de passe sont différents.", "De wachtwoorden verschillen."),
    "At least 10 characters.": ("Au moins 10 caractères.", "Minstens 10 tekens."),
    "This link is invalid or has expired.": ("Ce lien n'est pas valable ou a expiré.",
                                             "Deze link is ongeldig of verlopen."),
    "Your password has been changed. Sign in with it.": (
        "Votre mot de passe a été modifié. Connectez-vous avec celui-ci.",
        "Uw wachtwoord is gewijzigd. Meld u ermee aan."),
    "Back to sign in": ("Retour à la connexion", "Terug naar aanmelden"),
    "Your session has expired or the form is stale. Please try again.": (
        "Votre session a expiré ou le formulaire n'est plus valable. Veuillez réessayer.",
        "Uw sessie is verlopen of het formulier is niet meer geldig. Probeer het opnieuw."),
    "Language": ("Langue", "Taal"),
    "Change": ("Changer", "Wijzigen"),
    "Skip to content": ("Aller au contenu", "Naar de inhoud"),
    "Menu": ("Menu", "Menu"),
    "Required": ("Obligatoire", "Verplicht"),
    # tabs
    "Profile": ("Profil", "Profiel"),
    "Settings": ("Paramètres", "Instellingen"),
    "Advanced settings": ("Paramètres avancés", "Geavanceerde instellingen"),
    "Busy Lamp Field": ("Busy Lamp Field", "Busy Lamp Field"),
    "Phone directory": ("Annuaire téléphonique", "Telefoonboek"),
    "Call log": ("Journal des appels", "Oproeplijst"),
    "Schedules": ("Horaires", "Schema's"),
    "Voicemail": ("Messagerie vocale", "Voicemail"),
    "Info": ("Info", "Info"),
    # group administrator pages
    "Users": ("Utilisateurs", "Gebruikers"),
    "Numbers and extensions": ("Numéros et extensions", "Nummers en extensies"),
    "Departments": ("Départements", "Afdelingen"),
    "Devices": ("Appareils", "Toestellen"),
    "Group schedules": ("Horaires du groupe", "Schema's van de groep"),
    "Group directory": ("Annuaire du groupe", "Telefoonboek van de groep"),
    "This page is for group administrators.": ("Cette page est réservée aux administrateurs de groupe.",
                                               "Deze pagina is voorbehouden aan groepsbeheerders."),
    "Not found in your group.": ("Introuvable dans votre groupe.", "Niet gevonden in uw groep."),
    "Add a user": ("Ajouter un utilisateur", "Gebruiker toevoegen"),
    "Services": ("Services", "Diensten"),
    "The user changes the other settings in their own portal.": (
        "L'utilisateur modifie les autres paramètres dans son propre portail.",
        "De gebruiker wijzigt de andere instellingen in zijn eigen portaal."),
    "Edit the user": ("Modifier l'utilisateur", "Gebruiker wijzigen"),
    "Back to the list": ("Retour à la liste", "Terug naar de lijst"),
    "Separate numbers with commas; the first one is the main number.": (
        "Séparez les numéros par des virgules ; le premier est le numéro principal.",
        "Scheid de nummers met komma's; het eerste is het hoofdnummer."),
    "Empty: the main number.": ("Vide : le numéro principal.", "Leeg: het hoofdnummer."),
    "SIP user name": ("Nom d'utilisateur SIP", "SIP-gebruikersnaam"),
    "Empty: the user ID.": ("Vide : le User ID.", "Leeg: de gebruikers-ID."),
    "SIP password": ("Mot de passe SIP", "SIP-wachtwoord"),
    "Portal password": ("Mot de passe du portail", "Wachtwoord van het portaal"),
    "Leave a password empty to keep the current one.": (
        "Laissez un mot de passe vide pour garder l'actuel.",
        "Laat een wachtwoord leeg om het huidige te behouden."),
    "Free (group number)": ("Libre (numéro du groupe)", "Vrij (nummer van de groep)"),
    "Extensions": ("Extensions", "Extensies"),
    "A user's numbers and extension are changed on the user's page.": (
        "Les numéros et l'extension d'un utilisateur se modifient sur la page de l'utilisateur.",
        "De nummers en de extensie van een gebruiker wijzigt u op de pagina van die gebruiker."),
    "Add a group number": ("Ajouter un numéro du groupe", "Nummer van de groep toevoegen"),
    "Assign": ("Attribuer", "Toewijzen"),
    "Release": ("Libérer", "Vrijgeven"),
    "Department ID": ("ID du département", "Afdelings-ID"),
    "Add a department": ("Ajouter un département", "Afdeling toevoegen"),
    "MAC address": ("Adresse MAC", "MAC-adres"),
    "Model": ("Modèle", "Model"),
    "Label": ("Libellé", "Label"),
    "Provisioning password": ("Mot de passe de provisioning", "Provisioningwachtwoord"),
    "Empty: the phone keeps its current provisioning password (none for a new phone).": (
        "Vide : le téléphone garde son mot de passe de provisioning actuel (aucun pour un nouveau téléphone).",
        "Leeg: het toestel behoudt zijn huidige provisioningwachtwoord (geen voor een nieuw toestel)."),
    "Add a device": ("Ajouter un appareil", "Toestel toevoegen"),
    "Edit the device": ("Modifier l'appareil", "Toestel wijzigen"),
    "Holiday schedule": ("Horaire de congés", "Vakantieschema"),
    "Add a holiday schedule": ("Ajouter un horaire de congés", "Vakantieschema toevoegen"),
    "First day": ("Premier jour", "Eerste dag"),
    "Last day": ("Dernier jour", "Laatste dag"),
    "Empty rows are ignored; save to get more empty rows.": (
        "Les lignes vides sont ignorées ; sauvegardez pour obtenir d'autres lignes vides.",
        "Lege rijen worden genegeerd; sla op om meer lege rijen te krijgen."),
    "Every user of the group can use these schedules in their criteria.": (
        "Chaque utilisateur du groupe peut utiliser ces horaires dans ses critères.",
        "Elke gebruiker van de groep kan deze schema's in zijn criteria gebruiken."),
    "Every user of the group sees these entries in their phone directory.": (
        "Chaque utilisateur du groupe voit ces entrées dans son annuaire téléphonique.",
        "Elke gebruiker van de groep ziet deze items in zijn telefoonboek."),
    # profile
    "This tab shows your user profile as set by your administrator. For any change, contact your Call "
    "Connect administrator.": (
        "Cet onglet reprend les informations de votre profil utilisateur qui ont été définies par votre "
        "administrateur. Pour tout changement, adressez-vous à votre administrateur Call Connect.",
        "Dit tabblad toont uw gebruikersprofiel zoals uw beheerder het heeft ingesteld. Neem voor elke "
        "wijziging contact op met uw Call Connect-beheerder."),
    "Phone number": ("Numéro de téléphone", "Telefoonnummer"),
    "User ID": ("User ID", "Gebruikers-ID"),
    "Outgoing CLI": ("Outgoing CLI", "Uitgaand nummer"),
    "First name": ("Prénom", "Voornaam"),
    "Last name": ("Nom de famille", "Achternaam"),
    "Department": ("Département", "Afdeling"),
    "Extension": ("Extension", "Extensie"),
    "E-mail": ("E-mail", "E-mail"),
    # settings
    "Call forwarding always": ("Déviation d'appel inconditionnelle", "Onvoorwaardelijke doorschakeling"),
    "Call forwarding busy": ("Déviation d'appel en cas d'occupation", "Doorschakeling bij bezet"),
    "Call forwarding no answer": ("Déviation d'appel en cas de non-réponse", "Doorschakeling bij geen antwoord"),
    "Call forwarding not reachable": ("Déviation d'appel si injoignable", "Doorschakeling bij onbereikbaar"),
    "Do not disturb": ("Ne pas déranger", "Niet storen"),
    "Calling line ID blocking": ("Blocage de l'affichage du numéro", "Nummerweergave blokkeren"),
    "External calling line ID delivery": ("Affichage du numéro de l'appelant externe",
                                          "Nummerweergave van externe bellers"),
    "Internal calling line ID delivery": ("Affichage du numéro de l'appelant interne",
                                          "Nummerweergave van interne bellers"),
    "Connected line ID restriction": ("Refus permanent d'affichage du numéro de l'appelé",
                                      "Permanente blokkering van het nummer van de opgeroepene"),
    "Call waiting": ("Signal 2e appel", "Wachtende oproep"),
    "Active": ("Actif", "Actief"),
    "Forward to number": ("Transférer au numéro", "Doorschakelen naar nummer"),
    "Rings": ("Sonneries", "Belsignalen"),
    "Confirm": ("Confirmer", "Bevestigen"),
    "Save": ("Sauvegarder", "Opslaan"),
    "Saved.": ("Enregistré.", "Opgeslagen."),
    "Nothing was saved: correct the fields marked below.": (
        "Rien n'a été enregistré : corrigez les champs indiqués ci-dessous.",
        "Er is niets opgeslagen: verbeter de hieronder aangeduide velden."),
    "The number of rings before voicemail is the same as for call forwarding no answer.": (
        "Le nombre de sonneries avant la déviation vers la messagerie vocale est le même que celui de la "
        "« déviation d'appel en cas de non-réponse ».",
        "Het aantal belsignalen vóór de voicemail is hetzelfde als bij « doorschakeling bij geen antwoord »."),
    # advanced
    "Selective simultaneous ring": ("Sonneries simultanées sélectives", "Selectief gelijktijdig bellen"),
    "Selective sequential ring": ("Sonneries en cascade sélectives", "Selectief na elkaar bellen"),
    "Do not ring if on a call": ("Ne pas sonner si en appel", "Niet bellen tijdens een gesprek"),
    "Numbers that will ring": ("Numéros qui vont sonner", "Nummers die overgaan"),
    "Ordered list of numbers to ring": ("Liste ordonnée des numéros à faire sonner",
                                        "Geordende lijst van nummers die overgaan"),
    "Number": ("Numéro", "Nummer"),
    "Add a number": ("Ajouter un numéro", "Nummer toevoegen"),
    "Remove the number": ("Retirer un numéro", "Nummer verwijderen"),
    "Move up": ("Monter", "Omhoog"),
    "Move down": ("Descendre", "Omlaag"),
    "List of criteria": ("Liste de critères", "Lijst van criteria"),
    "Criterion": ("Critère", "Criterium"),
    "Name": ("Nom", "Naam"),
    "Add a criterion": ("Ajouter un critère", "Criterium toevoegen"),
    "Remove the criterion": ("Retirer le critère", "Criterium verwijderen"),
    "Time schedule": ("Horaire", "Tijdschema"),
    "Always": ("Toujours", "Altijd"),
    "Phone numbers": ("Numéros de téléphone", "Telefoonnummers"),
    "All numbers": ("Tous les numéros", "Alle nummers"),
    "Specific phone numbers": ("Numéros de téléphone spécifiques", "Specifieke telefoonnummers"),
    "Anonymous callers": ("Appelants anonymes", "Anonieme bellers"),
    "Callers without a number": ("Appelants sans numéro", "Bellers zonder nummer"),
    "Do not apply to these calls (blacklist)": ("Ne pas appliquer à ces appels (liste noire)",
                                                "Niet toepassen op deze oproepen (zwarte lijst)"),
    "Number of rings": ("Nombre de sonneries", "Aantal belsignalen"),
    "Ring my own phones first": ("Faire d'abord sonner mes propres téléphones",
                                 "Eerst mijn eigen toestellen laten overgaan"),
    "Continue if my line is busy": ("Continuer si ma ligne est occupée", "Doorgaan als mijn lijn bezet is"),
    "Changes are kept only when you save.": ("Les modifications ne sont gardées qu'après « Sauvegarder ».",
                                             "Wijzigingen worden pas bewaard na « Opslaan »."),
    # BLF
    "Selected users": ("Utilisateurs sélectionnés", "Geselecteerde gebruikers"),
    "Other users of the group": ("Autres utilisateurs du groupe", "Andere gebruikers van de groep"),
    "Add": ("Ajouter", "Toevoegen"),
    "Remove": ("Retirer", "Verwijderen"),
    "When a user is selected in the list above, a key appears on your phone (T42 and T48 only).": (
        "Lorsqu'un utilisateur est sélectionné dans la liste ci-dessus, une touche de numérotation rapide "
        "apparaîtra sur votre téléphone (T42 et T48 uniquement).",
        "Wanneer een gebruiker in de lijst hierboven geselecteerd is, verschijnt er een snelkeuzetoets op uw "
        "toestel (alleen T42 en T48)."),
    "Nobody is selected.": ("Personne n'est sélectionné.", "Niemand is geselecteerd."),
    "The lamps show your colleagues' calls as they happen.": (
        "Les voyants montrent les appels de vos collègues en direct.",
        "De lampjes tonen de gesprekken van uw collega's terwijl ze plaatsvinden."),
    "Live status interrupted: reload the page.": ("Statut en direct interrompu : rechargez la page.",
                                                  "Live status onderbroken: laad de pagina opnieuw."),
    "Idle": ("Libre", "Vrij"),
    "Ringing": ("Sonne", "Gaat over"),
    "On a call": ("En ligne", "In gesprek"),
    "Dialling out": ("Appel sortant", "Belt uit"),
    "On hold": ("En attente", "In de wacht"),
    "Not shared": ("Non partagé", "Niet gedeeld"),
    # directory and call log
    "Show": ("Afficher", "Toon"),
    "entries": ("éléments", "items"),
    "Search:": ("Rechercher :", "Zoeken:"),
    "Search": ("Rechercher", "Zoeken"),
    "Contact name": ("Nom de la personne de contact", "Naam van de contactpersoon"),
    "Contact number": ("Numéro de la personne de contact", "Nummer van de contactpersoon"),
    "Type": ("Type", "Type"),
    "Place a call": ("Établir un appel", "Bellen"),
    "Update": ("Mettre à jour", "Bijwerken"),
    "Delete": ("Supprimer", "Verwijderen"),
    "Call": ("Appel", "Bellen"),
    "Personal": ("Personnel", "Persoonlijk"),
    "Group": ("Groupe", "Groep"),
    "User": ("Utilisateur", "Gebruiker"),
    "Add a contact": ("Ajouter une entrée", "Contact toevoegen"),
    "Edit the contact": ("Modifier l'entrée", "Contact wijzigen"),
    "Showing {first} to {last} of {total} entries": ("Affichage de l'élément {first} à {last} sur {total} "
                                                    "éléments",
                                                    "Item {first} tot {last} van {total} items"),
    "Previous": ("Précédent", "Vorige"),
    "Next": ("Suivant", "Volgende"),
    "First page": ("Première page", "Eerste pagina"),
    "Last page": ("Dernière page", "Laatste pagina"),
    "Page {n}": ("Page {n}", "Pagina {n}"),
    "Nothing to show.": ("Aucun élément à afficher.", "Niets te tonen."),
    "Your phone is ringing: answer it to be connected to {number}.": (
        "Votre téléphone sonne : décrochez pour être mis en contact avec le {number}.",
        "Uw toestel gaat over: neem op om verbonden te worden met {number}."),
    "The call could not be placed: {reason}": ("L'appel n'a pas pu être établi : {reason}",
                                               "De oproep kon niet worden opgezet: {reason}"),
    "Click-to-dial is not available.": ("L'appel depuis le portail n'est pas disponible.",
                                        "Bellen vanuit het portaal is niet beschikbaar."),
    "Time of the call": ("Heure de l'appel", "Tijdstip van de oproep"),
    "Other party": ("Autre partie", "Andere partij"),
    "Call type": ("Type d'appel", "Type oproep"),
    "Placed": ("Sortant", "Uitgaand"),
    "Received": ("Reçu", "Ontvangen"),
    "Missed": ("Manqué", "Gemist"),
    "Unavailable": ("Indisponible", "Niet beschikbaar"),
    "The contact does not exist.": ("Cette entrée n'existe pas.", "Dit contact bestaat niet."),
    # schedules
    "Level": ("Niveau", "Niveau"),
    "Configure": ("Configurer", "Configureren"),
    "Add a schedule": ("Ajouter horaire", "Schema toevoegen"),
    "Schedule name:": ("Nom de l'horaire :", "Naam van het schema:"),
    "Day": ("Jour", "Dag"),
    "Start time": ("Heure de début", "Begintijd"),
    "End time": ("Heure de fin", "Eindtijd"),
    "Lunch break": ("Repas de midi", "Middagpauze"),
    "Associate the opposite schedule:": ("Associer l'horaire opposé :", "Het tegengestelde schema koppelen:"),
    "Yes": ("Oui", "Ja"),
    "No": ("Non", "Nee"),
    "Create": ("Créer", "Aanmaken"),
    "Opposite of another schedule": ("Opposé d'un autre horaire", "Tegengestelde van een ander schema"),
    "Monday": ("Lundi", "Maandag"),
    "Tuesday": ("Mardi", "Dinsdag"),
    "Wednesday": ("Mercredi", "Woensdag"),
    "Thursday": ("Jeudi", "Donderdag"),
    "Friday": ("Vendredi", "Vrijdag"),
    "Saturday": ("Samedi", "Zaterdag"),
    "Sunday": ("Dimanche", "Zondag"),
    "The schedule does not exist.": ("Cet horaire n'existe pas.", "Dit schema bestaat niet."),
    "Group schedules are set by your administrator.": ("Les horaires de groupe sont définis par votre "
                                                       "administrateur.",
                                                       "Groepsschema's worden door uw beheerder ingesteld."),
    # info
    "Downloadable user manuals for Call Connect.": ("Manuels d'utilisateur téléchargeables pour Call Connect.",
                                                    "Downloadbare gebruikershandleidingen voor Call Connect."),
    "Title": ("Titre", "Titel"),
    "Description": ("Description", "Beschrijving"),
    "Version": ("Version", "Versie"),
    "Link": ("Lien", "Link"),
    "French": ("Français", "Frans"),
    "Dutch": ("Néerlandais", "Nederlands"),
    "English": ("Anglais", "Engels"),
    # voicemail
    "Messages": ("Messages", "Berichten"),
    "From": ("De", "Van"),
    "Received at": ("Reçu le", "Ontvangen op"),
    "Duration": ("Durée", "Duur"),
    "Listen": ("Écouter", "Beluisteren"),
    "New": ("Nouveau", "Nieuw"),
    "Heard": ("Écouté", "Beluisterd"),
    "Your mailbox is empty.": ("Votre boîte vocale est vide.", "Uw voicemailbox is leeg."),
    "The message does not exist.": ("Ce message n'existe pas.", "Dit bericht bestaat niet."),
    "Greetings": ("Annonces", "Begroetingen"),
    "Busy greeting": ("Annonce en cas d'occupation", "Begroeting bij bezet"),
    "No-answer greeting": ("Annonce en cas de non-réponse", "Begroeting bij geen antwoord"),
    "Upload (WAV)": ("Envoyer (WAV)", "Uploaden (WAV)"),
    "Default greeting": ("Annonce par défaut", "Standaardbegroeting"),
    "Voicemail is not available.": ("La messagerie vocale n'est pas disponible.",
                                    "Voicemail is niet beschikbaar."),
    # errors
    "Page not found.": ("Page introuvable.", "Pagina niet gevonden."),
    "You may not see this page.": ("Vous n'avez pas accès à cette page.", "U hebt geen toegang tot deze pagina."),
    "Unknown user": ("Utilisateur inconnu", "Onbekende gebruiker"),
    "No phone of yours is registered.": ("Aucun de vos téléphones n'est enregistré.",
                                         "Geen van uw toestellen is aangemeld."),
    "The number cannot be dialled.": ("Ce numéro ne peut pas être appelé.", "Dit nummer kan niet gebeld worden."),
}

_PROBLEMS: Final[tuple[tuple[re.Pattern[str], str, str, str], ...]] = tuple(
    (re.compile(pattern), en, fr, nl) for pattern, en, fr, nl in (
        (r"must be 0 or 2\.\.20, got (.+)", "must be 0 or 2 to 20, got {0}",
         "doit être 0 ou entre 2 et 20 (reçu : {0})", "moet 0 of van 2 tot 20 zijn (gekregen: {0})"),
        (r"must be 2\.\.20, got (.+)", "must be 2 to 20, got {0}",
         "doit être entre 2 et 20 (reçu : {0})", "moet van 2 tot 20 zijn (gekregen: {0})"),
        (r"must be a number \(digits, optional leading \+\), got (.+)",
         "must be a phone number (digits, optional leading +), got {0}",
         "doit être un numéro de téléphone (chiffres, + initial facultatif) ; reçu : {0}",
         "moet een telefoonnummer zijn (cijfers, eventueel met + vooraan); gekregen: {0}"),
        (r"is required when the forward is active", "is required when the forward is active",
         "est obligatoire quand la déviation est active", "is verplicht als de doorschakeling actief is"),
        (r"must be an integer, got (.+)", "must be a whole number",
         "doit être un nombre entier", "moet een geheel getal zijn"),
        (r"must not be empty", "must not be empty", "ne peut pas être vide", "mag niet leeg zijn"),
        (r"is required", "is required", "est obligatoire", "is verplicht"),
        (r"must be at most (\d+) characters, got (\d+)", "must be at most {0} characters, got {1}",
         "doit compter au plus {0} caractères (en compte {1})", "mag hoogstens {0} tekens tellen (telt er {1})"),
        (r"must not start or end with spaces", "must not start or end with spaces",
         "ne peut pas commencer ni finir par une espace", "mag niet met een spatie beginnen of eindigen"),
        (r"must be after start \((.+)\), got (.+)", "must be after the start time ({0}), got {1}",
         "doit être après l'heure de début ({0}) ; reçu : {1}", "moet na de begintijd ({0}) liggen; gekregen: {1}"),
        (r"must be after lunch_start \((.+)\), got (.+)", "must be after the start of the lunch break ({0}), got {1}",
         "doit être après le début du repas de midi ({0}) ; reçu : {1}",
         "moet na het begin van de middagpauze ({0}) liggen; gekregen: {1}"),
        (r"lunch break (.+) must lie within (.+)", "the lunch break {0} must lie within {1}",
         "le repas de midi {0} doit se situer dans la plage {1}", "de middagpauze {0} moet binnen {1} liggen"),
        (r"must be a time HH:MM, got (.+)", "must be a time HH:MM, got {0}",
         "doit être une heure HH:MM ; reçu : {0}", "moet een tijd UU:MM zijn; gekregen: {0}"),
        (r"must be a time between 00:00 and 24:00, got (.+)", "must be a time between 00:00 and 24:00, got {0}",
         "doit être une heure entre 00:00 et 24:00 ; reçu : {0}", "moet een tijd tussen 00:00 en 24:00 zijn; "
         "gekregen: {0}"),
        (r"duplicate number (.+)", "the number {0} is already in the list",
         "le numéro {0} figure déjà dans la liste", "het nummer {0} staat al in de lijst"),
        (r"must not repeat a number", "must not repeat a number", "ne peut pas répéter un numéro",
         "mag geen nummer herhalen"),
        (r"duplicate criterion name (.+)", "another criterion is already called {0}",
         "un autre critère s'appelle déjà {0}", "een ander criterium heet al {0}"),
        (r"duplicate schedule name (.+)", "another schedule is already called {0}",
         "un autre horaire s'appelle déjà {0}", "een ander schema heet al {0}"),
        (r"unknown time schedule (.+)", "there is no schedule {0}", "il n'y a pas d'horaire {0}",
         "er is geen schema {0}"),
        (r"unknown holiday schedule (.+)", "there is no holiday schedule {0}", "il n'y a pas de calendrier "
         "de congés {0}", "er is geen vakantieschema {0}"),
        (r"unknown user (.+)", "there is no user {0}", "il n'y a pas d'utilisateur {0}",
         "er is geen gebruiker {0}"),
        (r"a user cannot list themselves", "you cannot select yourself", "vous ne pouvez pas vous sélectionner",
         "u kunt uzelf niet selecteren"),
        (r"duplicate user (.+)", "{0} is selected twice", "{0} est sélectionné deux fois",
         "{0} is twee keer geselecteerd"),
        (r"at least one number is required when simultaneous ring is active",
         "at least one number is required when simultaneous ring is active",
         "au moins un numéro est nécessaire quand les sonneries simultanées sont actives",
         "er is minstens één nummer nodig als gelijktijdig bellen actief is"),
        (r"at least one location is required when sequential ring is active",
         "at least one number is required when sequential ring is active",
         "au moins un numéro est nécessaire quand les sonneries en cascade sont actives",
         "er is minstens één nummer nodig als na elkaar bellen actief is"),
        (r"at most (\d+) (\w+), got (\d+)", "at most {0} {1}, got {2}", "au plus {0} ({2} demandés)",
         "hoogstens {0} ({2} gevraagd)"),
        (r"must be digits with optional \? and a final \*, got (.+)",
         "must be digits, with ? for any digit and a final * for any end, got {0}",
         "doit être composé de chiffres, ? pour un chiffre quelconque et * final pour n'importe quelle fin ; "
         "reçu : {0}",
         "moet uit cijfers bestaan, met ? voor om het even welk cijfer en * op het einde; gekregen: {0}"),
        (r"specific callers need numbers, include_anonymous or include_unavailable",
         "choose at least one number, anonymous callers or callers without a number",
         "choisissez au moins un numéro, les appelants anonymes ou les appelants sans numéro",
         "kies minstens één nummer, anonieme bellers of bellers zonder nummer"),
        (r"is still used by a criterion", "is still used by a criterion of the advanced settings",
         "est encore utilisé par un critère des paramètres avancés",
         "wordt nog gebruikt door een criterium van de geavanceerde instellingen"),
        (r"must be at least (\d+) characters", "must be at least {0} characters", "doit compter au moins {0} "
         "caractères", "moet minstens {0} tekens tellen"),
        (r"expected 16-bit mono PCM at 8 to 48 kHz", "the file must be a WAV: 16-bit mono PCM at 8 to 48 kHz",
         "le fichier doit être un WAV PCM 16 bits mono de 8 à 48 kHz",
         "het bestand moet een WAV zijn: 16-bit mono PCM van 8 tot 48 kHz"),
        (r"not a RIFF/WAVE file", "the file is not a WAV file", "le fichier n'est pas un fichier WAV",
         "het bestand is geen WAV-bestand"),
        (r"must be true or false, got (.+)", "must be on or off", "doit être activé ou désactivé",
         "moet aan of uit staan"),
        # provisioning rules (the group administrator's pages)
        (r"must be 1 to 10 digits, got (.+)", "must be 1 to 10 digits, got {0}",
         "doit compter 1 à 10 chiffres ; reçu : {0}", "moet 1 tot 10 cijfers tellen; gekregen: {0}"),
        (r"(.+) is already the extension of user (.+)", "{0} is already the extension of {1}",
         "{0} est déjà l'extension de {1}", "{0} is al de extensie van {1}"),
        (r"(.+) is already the sip_username of user (.+)", "{0} is already the SIP user name of {1}",
         "{0} est déjà le nom d'utilisateur SIP de {1}", "{0} is al de SIP-gebruikersnaam van {1}"),
        (r"(.+) is already the user_id of user (.+)", "{0} is already the user ID of {1}",
         "{0} est déjà le User ID de {1}", "{0} is al de gebruikers-ID van {1}"),
        (r"(.+) is the voicemail number", "{0} is the voicemail number", "{0} est le numéro de la messagerie "
         "vocale", "{0} is het voicemailnummer"),
        (r"(.+) is already a number of (.+)", "{0} is already a number of {1}", "{0} est déjà un numéro de {1}",
         "{0} is al een nummer van {1}"),
        (r"(.+) is an emergency number.*", "{0} is an emergency number", "{0} est un numéro d'urgence",
         "{0} is een noodnummer"),
        (r"(.+) is neither national \(starting with 0\) nor international \(\+ or 00\)",
         "{0} is neither national (starting with 0) nor international (+ or 00)",
         "{0} n'est ni national (commençant par 0) ni international (+ ou 00)",
         "{0} is nationaal (begint met 0) noch internationaal (+ of 00)"),
        (r"(.+) is not a phone number.*", "{0} is not a phone number", "{0} n'est pas un numéro de téléphone",
         "{0} is geen telefoonnummer"),
        (r"unknown department (.+)", "there is no department {0}", "il n'y a pas de département {0}",
         "er is geen afdeling {0}"),
        (r"(.+) is not one of the group's numbers", "{0} is not one of the group's numbers",
         "{0} n'est pas un des numéros du groupe", "{0} is geen nummer van de groep"),
        (r"must be a MAC address \(12 hex digits\), got (.+)", "must be a MAC address (12 hex digits), got {0}",
         "doit être une adresse MAC (12 chiffres hexadécimaux) ; reçu : {0}",
         "moet een MAC-adres zijn (12 hexadecimale cijfers); gekregen: {0}"),
        (r"duplicate (mac|id|user_id|username|name) (.+)", "{1} is already used", "{1} est déjà utilisé",
         "{1} is al in gebruik"),
        (r"must have at least (\d+) characters", "must have at least {0} characters",
         "doit compter au moins {0} caractères", "moet minstens {0} tekens tellen"),
        (r"must be letters, digits, \. _ - \(starting with a letter or digit\), got (.+)",
         "must be letters, digits, . _ - (starting with a letter or digit), got {0}",
         "doit être composé de lettres, chiffres, . _ - (en commençant par une lettre ou un chiffre) ; reçu : {0}",
         "moet uit letters, cijfers, . _ - bestaan (beginnend met een letter of cijfer); gekregen: {0}"),
        (r"must be letters, digits, \. _ ~ \+ -, got (.+)", "must be letters, digits, . _ ~ + -, got {0}",
         "doit être composé de lettres, chiffres, . _ ~ + - ; reçu : {0}",
         "moet uit letters, cijfers, . _ ~ + - bestaan; gekregen: {0}"),
        (r"must be an e-mail address, got (.+)", "must be an e-mail address, got {0}",
         "doit être une adresse e-mail ; reçu : {0}", "moet een e-mailadres zijn; gekregen: {0}"),
        (r"must be an E\.164 number or a short number, got (.+)", "must be a phone number or a short number, "
         "got {0}", "doit être un numéro de téléphone ou un numéro court ; reçu : {0}",
         "moet een telefoonnummer of een kort nummer zijn; gekregen: {0}"),
        (r"(.+) already belongs to group (.+)", "{0} already belongs to group {1}",
         "{0} appartient déjà au groupe {1}", "{0} behoort al tot groep {1}"),
        (r"cannot be changed: delete the user and create a new one",
         "cannot be changed: delete the user and create a new one",
         "ne peut pas être modifié : supprimez l'utilisateur et créez-en un nouveau",
         "kan niet gewijzigd worden: verwijder de gebruiker en maak een nieuwe aan"),
        (r"must not be before start \((.+)\), got (.+)", "must not be before the first day ({0}), got {1}",
         "ne peut pas précéder le premier jour ({0}) ; reçu : {1}",
         "mag niet vóór de eerste dag ({0}) liggen; gekregen: {1}"),
        (r"must be a date YYYY-MM-DD, got (.+)", "must be a date YYYY-MM-DD, got {0}",
         "doit être une date AAAA-MM-JJ ; reçu : {0}", "moet een datum JJJJ-MM-DD zijn; gekregen: {0}"),
        (r"is required when the SIP user name changes.*", "is required when the SIP user name changes",
         "est obligatoire quand le nom d'utilisateur SIP change", "is verplicht als de SIP-gebruikersnaam wijzigt"),
        (r"must be one of (.+), got (.+)", "must be one of {0}, got {1}", "doit être l'un de {0} ; reçu : {1}",
         "moet een van {0} zijn; gekregen: {1}"),
    )
)


def pick_language(value: str | None) -> Language | None:
    """`value` when it is one of `LANGUAGES` (case-insensitive, `nl-BE` counts as `nl`), else None."""
    if not value:
        return None
    code = value.strip().lower()[:2]
    for lang in LANGUAGES:
        if lang == code:
            return lang
    return None


def gettext(lang: Language, msgid: str, **values: object) -> str:
    """The translation of `msgid` (English) into `lang`, with `{name}` placeholders filled from `values`.
    An id missing from the catalogue is returned as it is (the catalogue test catches it first)."""
    text = msgid
    if lang != "en":
        entry = CATALOGUE.get(msgid)
        if entry is not None:
            text = entry[0] if lang == "fr" else entry[1]
    return text.format(**values) if values else text


def translate_problem(lang: Language, message: str) -> str:
    """A validation message of `features.model` / `provisioning.model` in `lang` (unknown ones unchanged)."""
    for pattern, en, fr, nl in _PROBLEMS:
        match = pattern.fullmatch(message)
        if match is not None:
            template = {"en": en, "fr": fr, "nl": nl}[lang]
            return template.format(*match.groups())
    return message
