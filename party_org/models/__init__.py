"""party_org's models, one module per area; import them from here."""

from .tree import (  # noqa: F401
    ALLOWED_CHILDREN,
    OrgKind,
    OrgUnit,
    StaffAssignment,
    StaffRole,
    code_validator,
    phone_validator,
    placement_error,
)
from .people import AuditEntry, Gender, Person, PersonalDataAccess  # noqa: F401
from .members import (  # noqa: F401
    CommitteeMembership,
    CommitteeRole,
    EmergencyAcknowledgement,
    EmergencyActivation,
    EmergencyRole,
    EmergencyRoleKind,
    InServiceRegistration,
    MemberCategory,
    MemberChange,
    MemberChangeKind,
    MemberStatus,
    PartyMember,
    Post,
    PostAssignment,
    PostKind,
    RegistrationEvaluation,
    ServiceRecord,
    TopSecretaryEntry,
    TopSecretarySelection,
    WorkUnit,
)
from .resources import (  # noqa: F401
    BranchFundEntry,
    CoBuildingAgreement,
    FundCategory,
    ListItem,
    ListKind,
    NeedMatch,
    ServiceStation,
    StationFunction,
    StationStandard,
)
from .ledgers import LEDGER_MODELS, DirectMember, InServiceMember, MobileMember, RetiredMember  # noqa: F401,E501
