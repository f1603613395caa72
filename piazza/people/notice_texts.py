"""The shipped texts of the privacy notices (GDPR art. 13; art. 14 for lists imported from a
circolo), Italian first with English, one per point of collection.

Each text is assembled from the point's own paragraphs (what is collected, why, on which legal
basis, for how long) and the common ones (controller, DPO, recipients, rights, complaint), with
the controller and DPO read from settings when the version is published. Published texts are
never edited: a change is a new version (`piazza.people.actions.notices.publish_notice_version`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

DEFAULT_LABEL = "2026.1"
# The date of the shipped texts (their version 2026.1), whenever an installation loads them: a
# version published later by the privacy officer always comes after it.
DEFAULT_PUBLISHED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class PointText:
    title: str
    data: str
    purposes: str
    basis: str
    retention: str
    mandatory: str
    source: str = ""  # art. 14(2)(f): where data not obtained from the person came from


IT: dict[str, PointText] = {
    "donate": PointText(
        title="Informativa privacy per chi dona",
        data="nome e cognome, codice fiscale, indirizzo di residenza, email, importo e data della "
        "donazione, le dichiarazioni richieste dalla legge, l'eventuale messaggio e la scelta sulla "
        "pubblicazione del nome.",
        purposes="ricevere e gestire la tua donazione (una tantum o mensile), rilasciarti la ricevuta, "
        "tenere il registro dei contributi e pubblicare i nomi di chi supera la soglia annuale come "
        "impone la legge 3/2019, e, solo se lo chiedi, mandarti gli aggiornamenti della raccolta.",
        basis="l'esecuzione della donazione che ci chiedi (art. 6.1.b GDPR); gli obblighi di legge sul "
        "finanziamento della politica e sulla contabilità (art. 6.1.c: legge 3/2019, art. 2220 c.c.); "
        "il tuo consenso per gli aggiornamenti (art. 6.1.a), revocabile in ogni momento. Sostenere un "
        "partito rivela un'opinione politica: la trattiamo come dato particolare (art. 9.2.d GDPR).",
        retention="le scritture contabili e le ricevute per 10 anni, il registro dei contributi per 5 anni "
        "dalla pubblicazione; il resto finché sei in contatto con noi e poi al più tardi dopo 3 anni "
        "senza interazioni.",
        mandatory="i dati anagrafici e il codice fiscale sono necessari per legge: senza, non possiamo "
        "accettare la donazione.",
    ),
    "join": PointText(
        title="Informativa privacy per chi si iscrive",
        data="dati anagrafici, codice fiscale, cittadinanza, residenza, email e telefono, il circolo "
        "scelto, le dichiarazioni statutarie, la quota pagata e i dati del pagamento.",
        purposes="gestire la tua iscrizione e la tessera, l'anagrafe degli iscritti del circolo e dei "
        "congressi, riscuotere la quota e rinnovarla, comunicarti la vita del partito come iscritto/a.",
        basis="l'adesione al partito e lo statuto (art. 6.1.b GDPR); i dati che rivelano la tua opinione "
        "politica sono trattati dal partito nell'ambito delle sue legittime attività, con la tua "
        "autorizzazione espressa e senza comunicarli all'esterno senza il tuo consenso (art. 9.2.a e "
        "9.2.d GDPR); obblighi contabili e fiscali (art. 6.1.c).",
        retention="per tutta la durata dell'iscrizione e poi per 10 anni per le anagrafi certificate dei "
        "congressi e le scritture contabili; i contatti non più attivi al più tardi dopo 3 anni.",
        mandatory="i dati richiesti dal modulo sono necessari per l'iscrizione: senza, il circolo non può accoglierla.",
    ),
    "albo": PointText(
        title="Informativa privacy per l'Albo dei sostenitori",
        data="dati anagrafici, codice fiscale, residenza, email e telefono, il territorio scelto e la "
        "dichiarazione di sostegno.",
        purposes="iscriverti all'Albo dei sostenitori, permetterti di partecipare alle attività aperte ai "
        "sostenitori (come le primarie) e contattarti per queste.",
        basis="la tua richiesta di iscrizione all'Albo (art. 6.1.b GDPR) e il tuo consenso esplicito a "
        "essere contattato/a (art. 6.1.a e 9.2.a), revocabile in ogni momento; il sostegno rivela "
        "un'opinione politica (art. 9.2.d).",
        retention="finché resti nell'Albo e poi al più tardi dopo 3 anni senza interazioni.",
        mandatory="i dati del modulo sono necessari per l'iscrizione all'Albo.",
    ),
    "desk": PointText(
        title="Informativa privacy del modulo cartaceo del circolo",
        data="i dati del modulo che hai firmato: anagrafica, codice fiscale, residenza, contatti, le "
        "dichiarazioni e i consensi che hai barrato, la quota versata.",
        purposes="registrare l'iscrizione o il sostegno che hai firmato al circolo, la quota incassata e "
        "i consensi che hai espresso sul modulo.",
        basis="la tua adesione e lo statuto (art. 6.1.b GDPR); i consensi barrati sul modulo (art. 6.1.a "
        "e 9.2.a); le attività legittime del partito (art. 9.2.d); obblighi contabili (art. 6.1.c).",
        retention="come per l'iscrizione: per la durata del rapporto, poi 10 anni per contabilità e "
        "anagrafi congressuali; il modulo firmato resta al circolo per lo stesso periodo.",
        mandatory="i dati anagrafici sono necessari per registrare il modulo; i consensi sono facoltativi.",
    ),
    "import": PointText(
        title="Informativa privacy per i nominativi forniti dai circoli",
        data="i dati che il circolo ha raccolto da te (nome, recapiti, comune) e ci ha trasmesso.",
        purposes="tenere un'unica anagrafe dei contatti del partito, senza duplicati, e informarti delle "
        "attività del tuo territorio se ne hai dato il consenso al circolo.",
        basis="il legittimo interesse del partito a gestire i contatti dei suoi circoli (art. 6.1.f GDPR) "
        "e le sue attività legittime verso chi ha contatti regolari (art. 9.2.d); il consenso che hai "
        "dato al circolo, dove richiesto (art. 6.1.a).",
        retention="le righe del file importato sono cancellate dopo 90 giorni; il contatto al più tardi "
        "dopo 3 anni senza interazioni.",
        mandatory="non ti chiediamo nulla direttamente: puoi opporti in ogni momento.",
        source="i dati provengono dal circolo territoriale a cui li hai dati (art. 14 GDPR).",
    ),
    "space": PointText(
        title="Informativa privacy di «Il mio spazio»",
        data="il tuo indirizzo email verificato, i dispositivi da cui accedi, i consensi che dai o revochi "
        "e le modifiche che chiedi ai tuoi dati.",
        purposes="farti accedere con un link sicuro, mostrarti i tuoi dati, le donazioni e le iscrizioni, "
        "registrare i consensi che dai o revochi e le richieste sui tuoi dati.",
        basis="la gestione del tuo rapporto con il partito (art. 6.1.b GDPR), gli obblighi sulle "
        "richieste degli interessati (art. 6.1.c, artt. 12-22), il tuo consenso per ciascuna finalità "
        "(art. 6.1.a), revocabile qui con la stessa facilità con cui lo dai.",
        retention="i collegamenti di accesso scadono in pochi minuti e sono cancellati dopo 30 giorni; "
        "lo storico dei consensi resta come prova finché resta il tuo profilo.",
        mandatory="l'email verificata è necessaria per accedere.",
    ),
    "petition": PointText(
        title="Informativa privacy per chi firma una petizione",
        data="nome, cognome, email, comune ed eventualmente il telefono.",
        purposes="raccogliere e contare la tua firma, consegnarla al destinatario della petizione e, "
        "solo se lo chiedi, tenerti aggiornato/a.",
        basis="la tua adesione alla petizione (art. 6.1.b e 9.2.a GDPR) e il tuo consenso per gli "
        "aggiornamenti (art. 6.1.a), revocabile in ogni momento.",
        retention="fino alla consegna della petizione e poi al più tardi dopo 3 anni senza interazioni.",
        mandatory="nome, cognome ed email sono necessari per firmare.",
    ),
    "event": PointText(
        title="Informativa privacy per chi partecipa a un evento",
        data="nome, cognome, email, eventualmente telefono e la tua presenza all'evento.",
        purposes="registrare la tua partecipazione, comunicarti le informazioni pratiche e, solo se lo "
        "chiedi, invitarti ad altri eventi.",
        basis="la tua iscrizione all'evento (art. 6.1.b e 9.2.a GDPR) e il tuo consenso per gli inviti "
        "futuri (art. 6.1.a), revocabile in ogni momento.",
        retention="per l'organizzazione dell'evento e poi al più tardi dopo 3 anni senza interazioni.",
        mandatory="nome ed email sono necessari per iscriversi.",
    ),
    "signup": PointText(
        title="Informativa privacy per chi si iscrive agli aggiornamenti",
        data="email ed eventualmente nome e comune.",
        purposes="mandarti le comunicazioni politiche e gli aggiornamenti che hai chiesto.",
        basis="il tuo consenso specifico (art. 6.1.a e 9.2.a GDPR; provvedimento del Garante del 18 "
        "aprile 2019), revocabile con un clic in ogni messaggio o da «Il mio spazio».",
        retention="finché non revochi il consenso, e al più tardi dopo 3 anni senza interazioni.",
        mandatory="l'email è necessaria per ricevere gli aggiornamenti.",
    ),
}

EN: dict[str, PointText] = {
    "donate": PointText(
        title="Privacy notice for donors",
        data="name, codice fiscale, home address, email, amount and date of the gift, the declarations "
        "the law requires, your optional message and your choice about publication of your name.",
        purposes="to receive and manage your gift (one-off or monthly), issue your receipt, keep the "
        "register of contributions and publish the names of donors above the yearly threshold as Law "
        "3/2019 requires, and, only if you ask, send you the campaign's updates.",
        basis="performing the gift you ask for (GDPR art. 6(1)(b)); legal obligations on political "
        "funding and accounting (art. 6(1)(c)); your consent for updates (art. 6(1)(a)), which you may "
        "withdraw at any time. Supporting a party reveals a political opinion: we treat it as "
        "special-category data (art. 9(2)(d)).",
        retention="accounting records and receipts for 10 years, the register of contributions for 5 "
        "years after publication; the rest while you are in touch with us, at most 3 years after your "
        "last interaction.",
        mandatory="your identity and codice fiscale are required by law: without them we cannot accept the gift.",
    ),
    "join": PointText(
        title="Privacy notice for new members",
        data="identity details, codice fiscale, citizenship, residence, email and phone, the chosen "
        "circolo, the statutory declarations, the fee paid and the payment details.",
        purposes="to manage your membership and card, the member rolls of your circolo and of "
        "congresses, collect and renew your fee, and tell you about the party's life as a member.",
        basis="your membership and the party statute (GDPR art. 6(1)(b)); data revealing your political "
        "opinion are processed within the party's legitimate activities, with your explicit "
        "authorisation and never disclosed outside without your consent (art. 9(2)(a) and (d)); "
        "accounting and tax obligations (art. 6(1)(c)).",
        retention="while you are a member, then 10 years for certified congress rolls and accounting "
        "records; inactive contacts at most 3 years after the last interaction.",
        mandatory="the data asked by the form are needed to join: without them the circolo cannot "
        "accept your application.",
    ),
    "albo": PointText(
        title="Privacy notice for the register of supporters (Albo)",
        data="identity details, codice fiscale, residence, email and phone, the chosen territory and "
        "your declaration of support.",
        purposes="to register you in the Albo, let you take part in activities open to supporters (such "
        "as primaries) and contact you about them.",
        basis="your request to register (GDPR art. 6(1)(b)) and your explicit consent to be contacted "
        "(arts. 6(1)(a) and 9(2)(a)), which you may withdraw at any time; support reveals a political "
        "opinion (art. 9(2)(d)).",
        retention="while you stay in the Albo, then at most 3 years after your last interaction.",
        mandatory="the form's data are needed to register.",
    ),
    "desk": PointText(
        title="Privacy notice of the circolo's paper form",
        data="the data of the form you signed: identity, codice fiscale, residence, contacts, the "
        "declarations and consents you ticked, the fee paid.",
        purposes="to record the membership or support you signed at the circolo, the fee collected and "
        "the consents you gave on the form.",
        basis="your membership and the statute (GDPR art. 6(1)(b)); the consents ticked on the form "
        "(arts. 6(1)(a) and 9(2)(a)); the party's legitimate activities (art. 9(2)(d)); accounting "
        "obligations (art. 6(1)(c)).",
        retention="as for membership: while it lasts, then 10 years for accounting and congress rolls; "
        "the signed form stays at the circolo for the same time.",
        mandatory="identity details are needed to record the form; consents are optional.",
    ),
    "import": PointText(
        title="Privacy notice for contacts provided by a circolo",
        data="the data the circolo collected from you (name, contacts, comune) and passed on to us.",
        purposes="to keep one register of the party's contacts without duplicates and, if you consented "
        "to the circolo, tell you about activities in your area.",
        basis="the party's legitimate interest in managing its circoli's contacts (GDPR art. 6(1)(f)) and "
        "its legitimate activities towards people in regular contact (art. 9(2)(d)); the consent you "
        "gave the circolo where required (art. 6(1)(a)).",
        retention="the rows of the imported file are deleted after 90 days; the contact at most 3 years "
        "after the last interaction.",
        mandatory="we ask you nothing directly: you may object at any time.",
        source="the data come from the local circolo you gave them to (GDPR art. 14).",
    ),
    "space": PointText(
        title="Privacy notice of «Il mio spazio»",
        data="your verified email address, the devices you sign in from, the consents you give or "
        "withdraw and the changes you ask to your data.",
        purposes="to sign you in with a secure link, show you your data, gifts and memberships, record "
        "the consents you give or withdraw and your requests about your data.",
        basis="managing your relationship with the party (GDPR art. 6(1)(b)), the obligations on data "
        "subjects' requests (art. 6(1)(c), arts. 12-22), your consent for each purpose (art. 6(1)(a)), "
        "which you withdraw here as easily as you give it.",
        retention="sign-in links expire within minutes and are deleted after 30 days; the history of "
        "consents stays as evidence as long as your profile does.",
        mandatory="a verified email is needed to sign in.",
    ),
    "petition": PointText(
        title="Privacy notice for petition signers",
        data="name, email, comune and optionally your phone.",
        purposes="to collect and count your signature, deliver it to the petition's addressee and, only "
        "if you ask, keep you updated.",
        basis="your signing the petition (GDPR arts. 6(1)(b) and 9(2)(a)) and your consent for updates "
        "(art. 6(1)(a)), which you may withdraw at any time.",
        retention="until the petition is delivered, then at most 3 years after your last interaction.",
        mandatory="name and email are needed to sign.",
    ),
    "event": PointText(
        title="Privacy notice for event participants",
        data="name, email, optionally phone, and your attendance.",
        purposes="to record your registration, send you practical information and, only if you ask, "
        "invite you to other events.",
        basis="your registration (GDPR arts. 6(1)(b) and 9(2)(a)) and your consent to future invitations "
        "(art. 6(1)(a)), which you may withdraw at any time.",
        retention="for the event's organisation, then at most 3 years after your last interaction.",
        mandatory="name and email are needed to register.",
    ),
    "signup": PointText(
        title="Privacy notice for updates sign-up",
        data="email and optionally name and comune.",
        purposes="to send you the political communication and updates you asked for.",
        basis="your specific consent (GDPR arts. 6(1)(a) and 9(2)(a); Garante provision of 18 April "
        "2019), which you withdraw with one click in every message or from «Il mio spazio».",
        retention="until you withdraw consent, at most 3 years after your last interaction.",
        mandatory="an email is needed to receive updates.",
    ),
}

_IT_FRAME = """## Chi tratta i tuoi dati
Titolare del trattamento è {controller}, {address} (email: {controller_email}).
Il responsabile della protezione dei dati (DPO) risponde a {dpo_email}.

## Quali dati
Trattiamo {data}
{source}
## Perché e su quale base
Li usiamo per {purposes}

Base giuridica: {basis}

## Per quanto tempo
Conserviamo: {retention}

## A chi li comunichiamo
Solo al personale e ai volontari del partito autorizzati, ciascuno per il proprio territorio, e ai
fornitori che ci aiutano come responsabili del trattamento (ospitalità dei server, invio delle email,
circuiti di pagamento), vincolati da contratto. Non vendiamo né cediamo i tuoi dati. Se un fornitore
tratta dati fuori dall'Unione europea, lo fa con le garanzie dell'art. 46 GDPR (clausole contrattuali
standard).

## È obbligatorio?
{mandatory}

## I tuoi diritti
Puoi chiedere accesso e copia dei tuoi dati, la rettifica, la cancellazione, la limitazione, la
portabilità, e opporti al trattamento e alla comunicazione politica (artt. 15-22 GDPR); puoi revocare
ogni consenso in qualsiasi momento, senza che ciò tocchi quanto fatto prima. Lo fai da «Il mio
spazio», dalla pagina «I miei dati» o scrivendo a {controller_email}: rispondiamo entro un mese.
Hai diritto di proporre reclamo al Garante per la protezione dei dati personali (www.garanteprivacy.it).
"""

_EN_FRAME = """## Who processes your data
The controller is {controller}, {address} (email: {controller_email}).
The data protection officer (DPO) answers at {dpo_email}.

## Which data
We process {data}
{source}
## Why and on which legal basis
We use them {purposes}

Legal basis: {basis}

## For how long
We keep: {retention}

## Who receives them
Only the party's authorised staff and volunteers, each for their own territory, and the suppliers
helping us as processors (server hosting, email delivery, payment networks), bound by contract. We
never sell or hand over your data. Where a supplier processes data outside the European Union, it
does so with the safeguards of GDPR art. 46 (standard contractual clauses).

## Is it mandatory?
{mandatory}

## Your rights
You may ask for access to and a copy of your data, rectification, erasure, restriction, portability,
and object to processing and to political communication (GDPR arts. 15-22); you may withdraw any
consent at any time, without affecting what was done before. Do it from «Il mio spazio», from the
page «I miei dati» or by writing to {controller_email}: we answer within one month. You have the
right to lodge a complaint with the Italian data protection authority (www.garanteprivacy.it).
"""


def default_text(key: str, language: str) -> tuple[str, str]:
    """The shipped (title, Markdown body) of a point of collection in "it" or "en"."""
    texts, frame, source_head = (EN, _EN_FRAME, "Source: ") if language == "en" else (IT, _IT_FRAME, "Origine: ")
    point = texts[key]
    body = frame.format(
        controller=settings.PRIVACY_CONTROLLER_NAME,
        address=settings.PRIVACY_CONTROLLER_ADDRESS,
        controller_email=settings.PRIVACY_CONTROLLER_EMAIL,
        dpo_email=settings.PRIVACY_DPO_EMAIL,
        data=point.data,
        source=f"\n{source_head}{point.source}\n" if point.source else "",
        purposes=point.purposes,
        basis=point.basis,
        retention=point.retention,
        mandatory=point.mandatory,
    )
    return point.title, body
